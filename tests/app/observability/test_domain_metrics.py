"""Metrics the domains report: timed steps (settlement, payouts) count failures but not
refusals, the rate limiter's fallback from Redis shows while it lasts, and the pool gauge
follows connections taken and given back."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram
from redis.exceptions import ConnectionError as RedisConnectionError

from app.db import Database
from app.errors import DomainError
from app.limits.buckets import Decision, FallbackBuckets, MemoryBuckets
from app.observability.metrics import timed
from tests.support.metrics import value

pytestmark = pytest.mark.anyio


async def test_a_timed_step_counts_failures_but_not_refusals() -> None:
    registry = CollectorRegistry()
    duration = Histogram("step_seconds", "a step", ["step"], registry=registry)
    failures = Counter("step_failures", "failed steps", ["step"], registry=registry)

    @timed(duration, failures, labels={"step": "create"}, refusals=(DomainError,))
    async def step(outcome: str) -> str:
        if outcome == "refuse":
            raise DomainError([])
        if outcome == "crash":
            raise RuntimeError(outcome)
        return outcome

    assert await step("done") == "done"
    with pytest.raises(DomainError):
        await step("refuse")
    with pytest.raises(RuntimeError):
        await step("crash")

    labels = {"step": "create"}
    assert registry.get_sample_value("step_seconds_count", labels) == 3
    assert registry.get_sample_value("step_failures_total", labels) == 1


class Flaky:
    """A Redis bucket store that is down until told otherwise."""

    def __init__(self) -> None:
        self.down = True

    async def take(self, key: str, amount: float, *, rate: float, burst: float) -> Decision:
        if self.down:
            raise RedisConnectionError("down")
        return Decision(True, burst, 0.0, burst, rate)


async def test_the_redis_fallback_shows_while_it_lasts() -> None:
    primary = Flaky()
    buckets = FallbackBuckets(primary, MemoryBuckets(), workers=2, fail_open=False)
    decisions = value("agora_rate_limit_fallback_decisions_total")

    for _ in range(3):
        await buckets.take("rate:default:ip:1", 1, rate=1, burst=10)
    assert value("agora_rate_limit_fallback_active") == 1
    assert value("agora_rate_limit_fallback_decisions_total") - decisions == 3

    primary.down = False
    await buckets.take("rate:default:ip:1", 1, rate=1, burst=10)
    assert value("agora_rate_limit_fallback_active") == 0
    assert value("agora_rate_limit_fallback_decisions_total") - decisions == 3


async def test_connections_in_use_follow_the_pool(db: Database) -> None:
    idle = value("agora_db_connections_in_use")
    async with db.engine.connect(), db.engine.connect():
        assert value("agora_db_connections_in_use") - idle == 2
    assert value("agora_db_connections_in_use") == idle
