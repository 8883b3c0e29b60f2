"""How hard Agora tries to deliver a webhook: timeout, backoff, retry window, circuit breaker.

Retries back off exponentially with "equal jitter" (half the delay fixed, half random), so a
thousand deliveries that failed together do not all come back in the same second, yet none
comes back sooner than half its step. They stop when the next attempt would fall outside the
retry window counted from the delivery's creation (or its redelivery); the delivery is then
dead-lettered for ops to redeliver.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

__all__ = ["DeliveryPolicy"]


@dataclass(frozen=True, slots=True)
class DeliveryPolicy:
    timeout_seconds: float = 5.0
    backoff_base: timedelta = timedelta(seconds=30)
    backoff_cap: timedelta = timedelta(hours=1)
    retry_window: timedelta = timedelta(hours=24)
    breaker_failures: int = 5
    breaker_cooldown: timedelta = timedelta(seconds=60)
    batch_size: int = 50
    concurrency: int = 16
    # A claimed delivery is someone else's to retry once this passes: it has to outlast the
    # timeout by far, so that a slow but living dispatcher is never overtaken.
    lease: timedelta = timedelta(seconds=60)
    # 0 <= jitter() < 1; tests pin it.
    jitter: Callable[[], float] = field(default=random.random, repr=False)

    def __post_init__(self) -> None:
        if self.lease.total_seconds() < 2 * self.timeout_seconds:
            raise ValueError("the lease must be at least twice the delivery timeout")
        if self.breaker_failures < 1 or self.batch_size < 1 or self.concurrency < 1:
            raise ValueError("breaker_failures, batch_size and concurrency are at least 1")

    def backoff(self, failures: int) -> timedelta:
        """The wait after the ``failures``-th failed attempt in a row."""
        step = min(self.backoff_cap, self.backoff_base * (2 ** min(failures - 1, 30)))
        return step / 2 + step / 2 * self.jitter()

    def next_attempt(self, failures: int, now: datetime, give_up_at: datetime) -> datetime | None:
        """When to try again, or None when that would be past ``give_up_at``."""
        at = now + self.backoff(failures)
        return at if at <= give_up_at else None
