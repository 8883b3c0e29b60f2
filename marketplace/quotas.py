"""Limits for apps by their partner's tier: the ``PolicyLookup`` the HTTP edge asks.

A request carrying an app's token or signature (subject ``app:<client_id>``) is limited by the
tier policy of the app's partner; everyone else falls through to the standard limits. Workers
cache what they looked up, and drop it when a tier or policy change is announced (Redis pub/sub,
so every process follows at once) or after ``ttl_seconds`` at the latest, whichever comes first.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from sqlalchemy import select

from app.db import SessionFactory
from app.limits.policy import ClientLimits, PolicyLookup, Priority
from marketplace.app_models import App
from marketplace.models import Partner, PartnerStatus, Tier, TierPolicy

__all__ = ["APP_PREFIX", "TierQuotas"]

APP_PREFIX = "app:"


@dataclass(frozen=True, slots=True)
class _Standing:
    tier: Tier
    suspended: bool


class TierQuotas:
    def __init__(
        self,
        reader: SessionFactory,
        fallback: PolicyLookup,
        *,
        ttl_seconds: float = 5.0,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reader = reader
        self._fallback = fallback
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._standings: dict[str, tuple[_Standing | None, float]] = {}
        self._policies: tuple[dict[Tier, ClientLimits], float] | None = None

    async def invalidate(self) -> None:
        """Forget everything: the next request of each app reads its tier afresh."""
        self._standings = {}
        self._policies = None

    def _fresh(self, loaded_at: float) -> bool:
        return self._monotonic() - loaded_at < self._ttl

    async def _policy_table(self) -> dict[Tier, ClientLimits]:
        if self._policies is not None and self._fresh(self._policies[1]):
            return self._policies[0]
        async with self._reader() as session:
            rows = list(await session.scalars(select(TierPolicy)))
        table = {
            row.tier: ClientLimits(
                rate=row.rate,
                burst=row.burst,
                cost_max=row.cost_max,
                cost_restore=row.cost_restore,
                concurrency=row.concurrency,
                priority=Priority(row.priority),
                tier=row.tier.value,
                daily_calls=row.daily_calls,
            )
            for row in rows
        }
        self._policies = (table, self._monotonic())
        return table

    async def _standing(self, client_id: str) -> _Standing | None:
        cached = self._standings.get(client_id)
        if cached is not None and self._fresh(cached[1]):
            return cached[0]
        async with self._reader() as session:
            found = (
                await session.execute(
                    select(Partner.tier, Partner.status)
                    .join(App, App.partner_id == Partner.id)
                    .where(App.client_id == client_id)
                )
            ).first()
        standing = (
            None if found is None else _Standing(found[0], found[1] is PartnerStatus.SUSPENDED)
        )
        self._standings[client_id] = (standing, self._monotonic())
        return standing

    async def limits_for(self, subject: str | None) -> ClientLimits:
        if not subject or not subject.startswith(APP_PREFIX):
            return await self._fallback.limits_for(subject)
        standing = await self._standing(subject.removeprefix(APP_PREFIX))
        if standing is None:  # a client registered outside the marketplace (agora client create)
            return await self._fallback.limits_for(subject)
        limits = (await self._policy_table())[standing.tier]
        return replace(limits, suspended=True) if standing.suspended else limits
