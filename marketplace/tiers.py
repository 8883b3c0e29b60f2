"""Tier policy: reading it, and community admins changing it.

The rows are seeded by migration 0012 with DESIGN.md's table. A change is validated as a whole
(a burst below the rate, a share above 100 %, an unknown scope are refused) and announced, so
every worker's quota cache drops its copy at once.
"""

from __future__ import annotations

from dataclasses import dataclass, fields

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, Problem
from app.security.oauth.scopes import SCOPES
from marketplace.errors import MarketplaceErrorCode
from marketplace.models import Tier, TierPolicy

__all__ = ["TierPolicyChanges", "all_policies", "policy_of", "update_policy"]

# The names of TierPolicyInput's fields, so that an error points at what the caller sent.
_API_NAMES = {
    "rate": "ratePerSecond",
    "burst": "burst",
    "daily_calls": "dailyCalls",
    "cost_max": "costBucketMax",
    "cost_restore": "costRestorePerSecond",
    "max_apps": "maxApps",
    "share_bps": "shareBps",
    "allowed_scopes": "allowedScopes",
    "listing_boost": "listingBoost",
    "priority": "sheddingPriority",
    "concurrency": "concurrency",
}
# Only these may be null (unlimited). The API's input fields are all nullable, so that they
# can be left out; a null for any other is refused, never stored or compared.
_NULLABLE = frozenset({"daily_calls", "max_apps"})
_UNSET = object()


@dataclass(frozen=True, slots=True)
class TierPolicyChanges:
    """Fields left as ``_UNSET`` keep their value; ``None`` means unlimited where allowed."""

    rate: object = _UNSET
    burst: object = _UNSET
    daily_calls: object = _UNSET
    cost_max: object = _UNSET
    cost_restore: object = _UNSET
    max_apps: object = _UNSET
    share_bps: object = _UNSET
    allowed_scopes: object = _UNSET
    listing_boost: object = _UNSET
    priority: object = _UNSET
    concurrency: object = _UNSET

    @classmethod
    def unset(cls) -> object:
        return _UNSET


async def all_policies(session: AsyncSession) -> list[TierPolicy]:
    order = {tier: index for index, tier in enumerate(Tier)}
    rows = list(await session.scalars(select(TierPolicy)))
    return sorted(rows, key=lambda row: order[row.tier])


async def policy_of(session: AsyncSession, tier: Tier) -> TierPolicy:
    row = await session.get(TierPolicy, tier)
    if row is None:  # pragma: no cover - the migration seeds every tier
        raise LookupError(f"no policy row for tier {tier}")
    return row


def _problem(name: str, message: str) -> Problem:
    return Problem(MarketplaceErrorCode.INVALID, message, ("input", _API_NAMES[name]))


def _problems(row: TierPolicy) -> list[Problem]:
    found = []
    if not 0 < row.rate <= 100_000:
        found.append(_problem("rate", "A rate is above 0 and at most 100,000/s."))
    if not 1 <= row.burst <= 1_000_000 or row.burst < row.rate:
        found.append(_problem("burst", "A burst is 1 to 1,000,000 and at least the rate."))
    for name in ("daily_calls", "max_apps"):
        value = getattr(row, name)
        if value is not None and not 1 <= value <= 10**9:
            found.append(_problem(name, "Between 1 and 10^9, or null for unlimited."))
    if not 1 <= row.cost_max <= 10**7 or not 0 < row.cost_restore <= 10**6:
        found.append(_problem("cost_max", "A cost bucket of 1 to 10^7 refilling above 0."))
    if not 0 <= row.share_bps <= 10_000:
        found.append(_problem("share_bps", "A share is 0 to 10,000 basis points."))
    unknown = sorted(set(row.allowed_scopes) - set(SCOPES))
    if unknown:
        found.append(_problem("allowed_scopes", f"Unknown scopes: {', '.join(unknown)}."))
    if not 0 <= row.listing_boost <= 10:
        found.append(_problem("listing_boost", "A boost is 0 to 10."))
    if not 0 <= row.priority <= 2:
        found.append(_problem("priority", "Priority is 0 (shed first) to 2 (shed last)."))
    if not 1 <= row.concurrency <= 10_000:
        found.append(_problem("concurrency", "Concurrency is 1 to 10,000."))
    return found


async def update_policy(
    session: AsyncSession, tier: Tier, changes: TierPolicyChanges
) -> TierPolicy:
    row = await policy_of(session, tier)
    nulls = []
    for change in fields(changes):
        value = getattr(changes, change.name)
        if value is _UNSET:
            continue
        if value is None and change.name not in _NULLABLE:
            nulls.append(_problem(change.name, "Cannot be null; leave it out to keep it."))
            continue
        if change.name == "allowed_scopes":
            value = sorted(set(value))  # type: ignore[call-overload]
        setattr(row, change.name, value)
    problems = nulls + _problems(row)
    if problems:
        raise DomainError(problems)
    await session.flush()
    return row
