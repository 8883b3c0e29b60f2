"""Reading Prometheus series in tests: from a ``/metrics`` body, or the registry itself.

The registry is the process's, shared by the whole suite, so tests compare values before and
after what they do rather than absolute numbers.
"""

from __future__ import annotations

from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

__all__ = ["scraped", "value"]


def scraped(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample of an exposition text, by (sample name, labels)."""
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def value(name: str, **labels: str) -> float:
    """One sample's current value in this process; 0 when it has no value yet."""
    return REGISTRY.get_sample_value(name, labels) or 0.0
