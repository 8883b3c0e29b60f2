"""Pricing plans: what a shop pays for an app, as its partner's business role sets it.

The kinds, each in integer minor units of one currency:

- ``free``: nothing, ever;
- ``recurring``: ``amount`` every month or year, after ``trial_days`` (0-365) free days;
- ``usage``: ``amount`` per unit the app reports, at most ``usage_cap`` in a period (a month
  unless ``interval`` says a year);
- ``one_time``: ``amount`` once, when the installation becomes active.

Plans belong to the listing, not to its revisions: they are live as soon as they are saved. A
plan that installations use keeps its price: changing what a shop agreed to pay would be a
surprise on its bill, so its kind, amounts, currency and period are refused (PLAN_IN_USE) and
the partner archives it and offers a new one. Archiving hides a plan from new installs only.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, Problem
from app.money import CURRENCIES, MAX_MINOR_UNITS
from marketplace.app_models import Installation, InstallationStatus
from marketplace.errors import MarketplaceErrorCode
from marketplace.listing_models import Listing, PlanInterval, PlanKind, PricingPlan

__all__ = [
    "MAX_ACTIVE_PLANS",
    "MAX_TRIAL_DAYS",
    "PlanDraft",
    "archive_plan",
    "create_plan",
    "plan_problems",
    "update_plan",
]

MAX_ACTIVE_PLANS = 10
MAX_TRIAL_DAYS = 365
_PRICING = ("kind", "amount", "currency", "interval", "usage_cap")


@dataclass(frozen=True, slots=True)
class PlanDraft:
    name: str
    kind: PlanKind
    currency: str
    amount: int = 0
    interval: PlanInterval | None = None
    trial_days: int = 0
    usage_cap: int | None = None

    def normalized(self) -> PlanDraft:
        interval = self.interval
        if self.kind is PlanKind.USAGE and interval is None:
            interval = PlanInterval.MONTH
        return PlanDraft(
            name=self.name.strip(),
            kind=self.kind,
            currency=self.currency.strip().upper(),
            amount=self.amount,
            interval=interval,
            trial_days=self.trial_days,
            usage_cap=self.usage_cap,
        )

    def values(self) -> dict[str, Any]:
        return {f.name: getattr(self, f.name) for f in fields(self)}


def _invalid(message: str, *field: str) -> Problem:
    return Problem(MarketplaceErrorCode.INVALID, message, ("input", *field))


def _amount_problems(draft: PlanDraft) -> list[Problem]:
    problems = []
    paid = draft.kind is not PlanKind.FREE
    if paid and not 0 < draft.amount <= MAX_MINOR_UNITS:
        problems.append(_invalid("A paid plan has a price above zero.", "price"))
    if not paid and draft.amount != 0:
        problems.append(_invalid("A free plan costs nothing.", "price"))
    if draft.kind is PlanKind.USAGE:
        if draft.usage_cap is None:
            problems.append(_invalid("A usage plan caps what a period costs.", "usageCap"))
        elif not draft.amount <= draft.usage_cap <= MAX_MINOR_UNITS:
            problems.append(_invalid("The cap is at least one unit's price.", "usageCap"))
    elif draft.usage_cap is not None:
        problems.append(_invalid("Only a usage plan has a cap.", "usageCap"))
    return problems


def plan_problems(draft: PlanDraft) -> list[Problem]:
    """Everything wrong with a (normalized) draft, each problem naming its input field."""
    problems = []
    if not 1 <= len(draft.name) <= 120:
        problems.append(_invalid("A name is 1-120 characters.", "name"))
    if draft.currency not in CURRENCIES:
        problems.append(_invalid("An ISO 4217 currency Agora supports.", "price", "currencyCode"))
    problems.extend(_amount_problems(draft))
    periodic = draft.kind in (PlanKind.RECURRING, PlanKind.USAGE)
    if draft.kind is PlanKind.RECURRING and draft.interval is None:
        problems.append(_invalid("A recurring plan bills every MONTH or YEAR.", "interval"))
    if not periodic and draft.interval is not None:
        problems.append(_invalid("Only recurring and usage plans have a period.", "interval"))
    if draft.kind is PlanKind.RECURRING:
        if not 0 <= draft.trial_days <= MAX_TRIAL_DAYS:
            problems.append(_invalid(f"0 to {MAX_TRIAL_DAYS} trial days.", "trialDays"))
    elif draft.trial_days != 0:
        problems.append(_invalid("Only a recurring plan has trial days.", "trialDays"))
    return problems


async def _listing(session: AsyncSession, listing_id: int) -> Listing:
    listing = await session.scalar(
        select(Listing).where(Listing.id == listing_id).with_for_update()
    )
    if listing is None:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such listing.", "listingId")
    return listing


async def _plan(session: AsyncSession, plan_id: int) -> PricingPlan:
    plan = await session.get(PricingPlan, plan_id)
    if plan is None:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such plan.", "planId")
    return plan


async def create_plan(session: AsyncSession, listing_id: int, draft: PlanDraft) -> PricingPlan:
    listing = await _listing(session, listing_id)
    draft = draft.normalized()
    problems = plan_problems(draft)
    active = await session.scalar(
        select(func.count())
        .select_from(PricingPlan)
        .where(PricingPlan.listing_id == listing.id, PricingPlan.active.is_(True))
    )
    if (active or 0) >= MAX_ACTIVE_PLANS:
        problems.append(
            Problem(
                MarketplaceErrorCode.INVALID,
                f"A listing offers at most {MAX_ACTIVE_PLANS} plans; archive one first.",
                ("listingId",),
            )
        )
    if problems:
        raise DomainError(problems)
    plan = PricingPlan(listing_id=listing.id, **draft.values())
    session.add(plan)
    await session.flush()
    return plan


async def _in_use(session: AsyncSession, plan_id: int) -> bool:
    found = await session.scalar(
        select(Installation.id)
        .where(
            Installation.plan_id == plan_id,
            Installation.status.in_([InstallationStatus.PENDING, InstallationStatus.ACTIVE]),
        )
        .limit(1)
    )
    return found is not None


async def update_plan(session: AsyncSession, plan_id: int, draft: PlanDraft) -> PricingPlan:
    """Replace the plan's terms; a plan in use may only be renamed or change its trial."""
    plan = await _plan(session, plan_id)
    await _listing(session, plan.listing_id)  # one change to a listing's plans at a time
    draft = draft.normalized()
    if problems := plan_problems(draft):
        raise DomainError(problems)
    repriced = any(getattr(plan, name) != getattr(draft, name) for name in _PRICING)
    if repriced and await _in_use(session, plan.id):
        raise DomainError.one(
            MarketplaceErrorCode.PLAN_IN_USE,
            "Shops are on this plan: archive it and create a new one to change its price.",
            "planId",
        )
    for name, value in draft.values().items():
        setattr(plan, name, value)
    await session.flush()
    return plan


async def archive_plan(session: AsyncSession, plan_id: int) -> PricingPlan:
    """No new installs choose it; installs on it keep it. Archiving twice changes nothing."""
    plan = await _plan(session, plan_id)
    plan.active = False
    await session.flush()
    return plan
