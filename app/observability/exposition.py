"""Rendering the metrics for a scrape, in one process or across several workers.

With one process, the default registry holds every value. With several (``agora serve
--workers N``), each worker writes its values to files in a shared directory and a scrape, which
reaches one worker, reads all of them. prometheus-client picks its storage when it is first
imported, from ``PROMETHEUS_MULTIPROC_DIR``; so the serving command calls
``prepare_multiprocess`` in the parent process *before* the workers start (and import Agora),
and the workers inherit the variable.
"""

from __future__ import annotations

import os
from pathlib import Path

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)

__all__ = ["CONTENT_TYPE", "MULTIPROC_ENV", "mark_worker_dead", "prepare_multiprocess", "render"]

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
CONTENT_TYPE = CONTENT_TYPE_LATEST


def prepare_multiprocess(directory: Path) -> Path:
    """Point this process and the workers it starts at ``directory``, emptied of a previous
    run's files (left over, they would be added to this run's counters). Returns the
    directory. Call it once, in the parent, before any worker starts."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink()
    os.environ[MULTIPROC_ENV] = str(directory)
    return directory


def mark_worker_dead(pid: int) -> None:
    """Drop a dead worker's live gauges (pool in use, fallback active) from the sums."""
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.mark_process_dead(pid)


def render() -> bytes:
    """The exposition text: every worker's values in multiprocess mode, else this process's."""
    if os.environ.get(MULTIPROC_ENV):
        registry = CollectorRegistry()
        multiprocess.MultiProcessCollector(registry)
        return generate_latest(registry)
    return generate_latest(REGISTRY)
