"""What each principal may spend: request rate, query-cost budget, concurrency and priority.

Limits asks a ``PolicyLookup`` port. The marketplace implements it for apps from its tier
policy table (``marketplace.quotas``); everyone else (users, anonymous callers) gets the
standard numbers from settings.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from app.config import Settings

__all__ = [
    "ClientLimits",
    "PolicyLookup",
    "Priority",
    "StaticPolicy",
    "daily_key",
    "standard_limits",
]


class Priority(enum.IntEnum):
    """Who is shed first under overload: anonymous and standard, then advanced, strategic last."""

    STANDARD = 0
    ADVANCED = 1
    STRATEGIC = 2


@dataclass(frozen=True, slots=True)
class ClientLimits:
    rate: float
    burst: float
    cost_max: float
    cost_restore: float
    concurrency: int
    priority: Priority = Priority.STANDARD
    # Buckets are kept per tier, so a promotion starts the caller on the new tier's full burst
    # at once instead of waiting for the old, smaller bucket to refill.
    tier: str = "default"
    # Calls a UTC day; None: unlimited.
    daily_calls: int | None = None
    # A suspended partner's app: every call is refused.
    suspended: bool = False


def standard_limits(settings: Settings) -> ClientLimits:
    """The standard tier's numbers, from settings: everyone's until tiers exist."""
    return ClientLimits(
        rate=settings.rate_limit_rate,
        burst=settings.rate_limit_burst,
        cost_max=settings.query_cost_bucket_max,
        cost_restore=settings.query_cost_restore_rate,
        concurrency=settings.concurrency_per_principal,
    )


def daily_key(subject: str, now: datetime) -> str:
    """The day's call counter: a new key each UTC day, so the quota rolls over at midnight."""
    return f"daily:{subject}:{now.astimezone(UTC).date().isoformat()}"


class PolicyLookup(Protocol):
    async def limits_for(self, subject: str | None) -> ClientLimits:
        """Limits for a subject: ``user:7``, ``app:agc_…``, or ``ip:…`` for anonymous callers."""
        ...


class StaticPolicy:
    """The same limits for everyone: the defaults until tiers exist."""

    def __init__(self, limits: ClientLimits) -> None:
        self._limits = limits

    async def limits_for(self, subject: str | None) -> ClientLimits:
        return self._limits
