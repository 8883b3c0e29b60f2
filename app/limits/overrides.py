"""Temporary rate-limit overrides that ops set for one principal (a partner's launch day, an
abusive client), kept in the database and cached by every worker.

Workers hold the active overrides in memory and reload them when a change is announced, so the
hot path never queries the database; an override lapses on its own at ``expires_at``.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from sqlalchemy import String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, SessionFactory, utcnow
from app.errors import DomainError, Problem
from app.limits.policy import ClientLimits, PolicyLookup

__all__ = [
    "LimitsErrorCode",
    "OverridingPolicy",
    "RateLimitOverride",
    "set_override",
]

MAX_OVERRIDE = timedelta(days=30)
_PRINCIPAL = re.compile(r"^(app|user|ip):[A-Za-z0-9_.:\-]{1,120}\Z")


class LimitsErrorCode(enum.StrEnum):
    INVALID = "INVALID"


class RateLimitOverride(Base):
    __tablename__ = "rate_limit_overrides"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    principal: Mapped[str] = mapped_column(String(128), index=True)
    rate: Mapped[float]
    burst: Mapped[int]
    expires_at: Mapped[datetime] = mapped_column(index=True)
    set_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


async def set_override(
    session: AsyncSession,
    *,
    principal: str,
    rate: float,
    burst: int,
    expires_at: datetime,
    set_by: str,
    now: datetime,
) -> RateLimitOverride:
    """Record an override; the newest one for a principal wins until it expires."""
    problems: list[Problem] = []
    if not _PRINCIPAL.match(principal):
        problems.append(
            Problem(
                LimitsErrorCode.INVALID,
                "Name an app:, user: or ip: principal.",
                ("input", "principal"),
            )
        )
    if not 0 < rate <= 100_000:
        problems.append(
            Problem(
                LimitsErrorCode.INVALID,
                "A rate is above 0 and at most 100,000/s.",
                ("input", "rate"),
            )
        )
    if not 1 <= burst <= 1_000_000:
        problems.append(
            Problem(LimitsErrorCode.INVALID, "A burst is 1 to 1,000,000.", ("input", "burst"))
        )
    if expires_at.tzinfo is None or not now < expires_at <= now + MAX_OVERRIDE:
        problems.append(
            Problem(
                LimitsErrorCode.INVALID,
                "Expire it in the future, within 30 days.",
                ("input", "expiresAt"),
            )
        )
    if problems:
        raise DomainError(problems)
    override = RateLimitOverride(
        principal=principal,
        rate=rate,
        burst=burst,
        expires_at=expires_at,
        set_by=set_by,
        created_at=now,
    )
    session.add(override)
    await session.flush()
    return override


@dataclass(frozen=True, slots=True)
class _Active:
    rate: float
    burst: int
    expires_at: datetime


class OverridingPolicy:
    """Another ``PolicyLookup``'s limits, with any live override's rate and burst on top."""

    def __init__(
        self, base: PolicyLookup, reader: SessionFactory, clock: Callable[[], datetime]
    ) -> None:
        self._base = base
        self._reader = reader
        self._clock = clock
        self._active: dict[str, _Active] = {}

    async def reload(self) -> None:
        now = self._clock()
        async with self._reader() as session:
            rows = await session.scalars(
                select(RateLimitOverride)
                .where(RateLimitOverride.expires_at > now)
                .order_by(RateLimitOverride.created_at, RateLimitOverride.id)
            )
            # Later rows replace earlier ones: the newest override wins.
            self._active = {r.principal: _Active(r.rate, r.burst, r.expires_at) for r in rows}

    async def limits_for(self, subject: str | None) -> ClientLimits:
        limits = await self._base.limits_for(subject)
        override = self._active.get(subject) if subject else None
        if override is None or override.expires_at <= self._clock():
            return limits
        return replace(limits, rate=override.rate, burst=override.burst)
