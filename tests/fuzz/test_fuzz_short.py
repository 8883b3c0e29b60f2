"""A short, reproducible schema fuzz through a real server on 127.0.0.1 (``bench.fuzz``): every
role, queries and mutations, and not one 5xx or INTERNAL. ``make fuzz`` runs the long one."""

from __future__ import annotations

import time

from bench import fuzz

OPERATIONS = 324  # 36 per role
BUDGET_SECONDS = 60


def test_generated_operations_never_crash_the_server() -> None:
    started = time.monotonic()
    report = fuzz.fuzz(OPERATIONS, fuzz.SEED)
    assert report.total >= OPERATIONS
    assert set(report.outcomes) == set(fuzz.ROLES)
    assert report.kinds["query"] and report.kinds["mutation"]
    assert not report.crashes, report.render()
    assert time.monotonic() - started < BUDGET_SECONDS
