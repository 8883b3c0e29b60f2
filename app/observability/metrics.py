"""Every Prometheus series Agora exports, defined once, and the label rules that keep them small.

The metrics live on prometheus-client's default registry, as module globals, because that is
what its multiprocess mode reads (each worker writes its values to files in
``PROMETHEUS_MULTIPROC_DIR``; see ``app.observability.exposition``). Gauges say how workers'
values combine: pool use adds up (``livesum``), a lag measured at scrape time is whatever was
measured last (``mostrecent``).

Labels never carry ids or free text. Operation names, error codes and tiers come from clients
or configuration, so each is checked against a shape and capped in number; what does not fit is
counted as ``other``.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Awaitable, Callable, Mapping
from time import perf_counter
from typing import ParamSpec, TypeVar

from prometheus_client import Counter, Gauge, Histogram, disable_created_metrics

__all__ = [
    "DB_CONNECTIONS_IN_USE",
    "GRAPHQL_DURATION",
    "GRAPHQL_ERRORS",
    "GRAPHQL_REQUESTS",
    "HTTP_RESPONSES",
    "OUTBOX_LAG",
    "PAYOUT_DURATION",
    "PAYOUT_FAILURES",
    "RATE_LIMIT_FALLBACK",
    "RATE_LIMIT_FALLBACK_DECISIONS",
    "REJECTIONS",
    "SETTLEMENT_DURATION",
    "SETTLEMENT_FAILURES",
    "WEBHOOK_DELIVERIES",
    "BoundedLabel",
    "error_code_label",
    "operation_label",
    "record_rejection",
    "tier_label",
    "timed",
]

P = ParamSpec("P")
R = TypeVar("R")

# The ``_created`` timestamp series double every counter's output and no alert reads them.
disable_created_metrics()

# Request latencies, from a cached lookup to a slow report.
_LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
# Batch work (settlement, payouts) runs for seconds to minutes.
_BATCH_BUCKETS = (0.1, 0.5, 1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0)

GRAPHQL_REQUESTS = Counter(
    "agora_graphql_requests",
    "GraphQL operations executed, by operation name and type.",
    ["operation", "type"],
)
GRAPHQL_DURATION = Histogram(
    "agora_graphql_request_duration_seconds",
    "Time spent in one GraphQL operation (parse to result), by operation name and type.",
    ["operation", "type"],
    buckets=_LATENCY_BUCKETS,
)
GRAPHQL_ERRORS = Counter(
    "agora_graphql_errors",
    "Errors in GraphQL responses, by extensions.code.",
    ["code"],
)
HTTP_RESPONSES = Counter(
    "agora_http_responses",
    "HTTP responses, by status class (2xx, 4xx, 5xx).",
    ["status_class"],
)
REJECTIONS = Counter(
    "agora_rejections",
    "Requests refused by rate limits, quotas, query cost or load shedding, by reason and tier.",
    ["reason", "tier"],
)
DB_CONNECTIONS_IN_USE = Gauge(
    "agora_db_connections_in_use",
    "Database connections checked out of the pool right now.",
    multiprocess_mode="livesum",
)
OUTBOX_LAG = Gauge(
    "agora_outbox_lag_seconds",
    "Age of the oldest outbox work waiting: unrouted events (routing) or due webhook "
    "deliveries (delivery). Measured at scrape time; 0 when nothing waits.",
    ["stage"],
    multiprocess_mode="mostrecent",
)
WEBHOOK_DELIVERIES = Counter(
    "agora_webhook_deliveries",
    "Webhook delivery attempts, by outcome (delivered, retrying, dead).",
    ["outcome"],
)
SETTLEMENT_DURATION = Histogram(
    "agora_settlement_duration_seconds",
    "Time to compute (create) or freeze (approve) a settlement run.",
    ["step"],
    buckets=_BATCH_BUCKETS,
)
SETTLEMENT_FAILURES = Counter(
    "agora_settlement_failures",
    "Settlement steps that failed unexpectedly (refusals such as WRONG_STATE are answers).",
    ["step"],
)
PAYOUT_DURATION = Histogram(
    "agora_payout_run_duration_seconds",
    "Time to pay one settlement run (lookup, claims and transfers).",
    buckets=_BATCH_BUCKETS,
)
PAYOUT_FAILURES = Counter(
    "agora_payout_failures",
    "Payouts that did not go through: declined by Stripe, no answer, no payout account, or a "
    "pay run that crashed (error).",
    ["reason"],
)
RATE_LIMIT_FALLBACK = Gauge(
    "agora_rate_limit_fallback_active",
    "1 while this worker's rate limits fall back from Redis to process memory (or fail open).",
    multiprocess_mode="livesum",
)
RATE_LIMIT_FALLBACK_DECISIONS = Counter(
    "agora_rate_limit_fallback_decisions",
    "Rate-limit decisions taken without Redis.",
)


class BoundedLabel:
    """Maps client-given values to label values: a value of the wrong shape, or any value
    beyond the first ``capacity`` distinct ones, becomes ``overflow``. Per process, so a
    deployment has at most ``capacity`` x workers series per metric."""

    def __init__(self, shape: str, capacity: int, overflow: str = "other") -> None:
        self._shape = re.compile(shape)
        self._capacity = capacity
        self._overflow = overflow
        self._seen: set[str] = set()

    def __call__(self, value: str) -> str:
        if value in self._seen:
            return value
        if not self._shape.fullmatch(value) or len(self._seen) >= self._capacity:
            return self._overflow
        self._seen.add(value)
        return value


_OPERATIONS = BoundedLabel(r"[A-Za-z_][A-Za-z0-9_]{0,63}", 200)
_CODES = BoundedLabel(r"[A-Z][A-Z0-9_]{0,47}", 100, overflow="OTHER")
_TIERS = BoundedLabel(r"[A-Za-z0-9_.-]{1,32}", 50)


def operation_label(name: str | None) -> str:
    """An operation's name as a label: ``anonymous`` when it has none."""
    return _OPERATIONS(name) if name else "anonymous"


def error_code_label(code: object) -> str:
    return _CODES(code) if isinstance(code, str) and code else "UNKNOWN"


def tier_label(tier: str) -> str:
    return _TIERS(tier)


def record_rejection(reason: str, tier: str) -> None:
    """One refused request; ``reason`` is one of a fixed set the callers name."""
    REJECTIONS.labels(reason=reason, tier=tier_label(tier)).inc()


def timed(
    duration: Histogram,
    failures: Counter,
    *,
    labels: Mapping[str, str] | None = None,
    failure_labels: Mapping[str, str] | None = None,
    refusals: tuple[type[BaseException], ...] = (),
) -> Callable[[Callable[P, Awaitable[R]]], Callable[P, Awaitable[R]]]:
    """Decorates an async function: its duration goes to ``duration`` and an exception to
    ``failures``, except those in ``refusals`` (a domain's "no" is an answer, not a failure).

    A decorator rather than a ``with`` block keeps the measured function's body untouched.
    """
    labels = dict(labels or {})
    failure_labels = dict(labels if failure_labels is None else failure_labels)

    def decorate(function: Callable[P, Awaitable[R]]) -> Callable[P, Awaitable[R]]:
        @functools.wraps(function)
        async def measured(*args: P.args, **kwargs: P.kwargs) -> R:
            started = perf_counter()
            try:
                return await function(*args, **kwargs)
            except refusals:
                raise
            except Exception:
                (failures.labels(**failure_labels) if failure_labels else failures).inc()
                raise
            finally:
                elapsed = perf_counter() - started
                (duration.labels(**labels) if labels else duration).observe(elapsed)

        return measured

    return decorate
