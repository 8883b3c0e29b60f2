"""Charges: opening them (at activation, by billing runs) and collecting them (earning).

**Periods** are UTC calendar months or years, ``[start, end)``: ``period_end`` is the first day
of the next period (exclusive). A one-time charge's period is its activation day. A charge is
unique per (installation, kind, period start), which makes opening one idempotent.

**Collection** asks the ``ChargeCollector`` port outside any transaction, then records the
outcome in one short transaction: a collected charge becomes COLLECTED with ``earned_at`` and
the partner's tier and revenue share as they are at that moment (read from ``partners`` and
``tier_policies`` in that same transaction), so a later tier change never rewrites what was
earned. A refused collection becomes FAILED and stays so. A charge the collector returns no
result for (its outcome is unknown: Stripe unreachable, a crash) stays PENDING and the next
billing run tries it again; the Stripe collector finds what it already did by metadata first.

**Test charges** (a sandbox shop's) are never sent to the collector: they become COLLECTED at
once, with ``test`` set, tier and share frozen like real ones, so that a partner sees in its
sandbox what a real charge looks like. No money moved; the ledger and settlement skip them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Protocol

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.identity.models import Shop
from app.pagination import KeysetOrder
from marketplace.app_models import App, Installation
from marketplace.billing_models import Charge, ChargeKind, ChargeStatus
from marketplace.collection import ChargeCollector, CollectionRequest, CollectionResult
from marketplace.ledger import post_collection
from marketplace.listing_models import PlanInterval, PlanKind, PricingPlan
from marketplace.models import Partner, Tier, TierPolicy

__all__ = [
    "CHARGE_ORDER",
    "BillingDeps",
    "ChargeFilter",
    "CollectionReport",
    "Period",
    "charge_query",
    "collect_charges",
    "create_activation_charges",
    "period_of",
    "utc_day",
]

log = logging.getLogger("agora.marketplace.billing")

COLLECT_BATCH = 100


class BillingDeps(Protocol):
    """What billing needs of ``MarketplaceServices`` (which satisfies it as it is); the CLI
    builds a smaller object with just these."""

    @property
    def db(self) -> Database: ...

    @property
    def clock(self) -> Callable[[], datetime]: ...

    @property
    def collector(self) -> ChargeCollector: ...


@dataclass(frozen=True, slots=True)
class Period:
    start: date
    end: date  # exclusive: the next period's first day


def period_of(day: date, interval: PlanInterval | None) -> Period:
    """The UTC calendar period that contains ``day`` (a month unless the plan says year)."""
    if interval is PlanInterval.YEAR:
        return Period(date(day.year, 1, 1), date(day.year + 1, 1, 1))
    start = day.replace(day=1)
    end = date(day.year + 1, 1, 1) if day.month == 12 else date(day.year, day.month + 1, 1)
    return Period(start, end)


def utc_day(moment: datetime) -> date:
    return moment.astimezone(UTC).date()


async def create_activation_charges(
    session: AsyncSession, installation: Installation, plan: PricingPlan | None, now: datetime
) -> list[Charge]:
    """The charges an installation owes when it becomes active: a one-time plan's price, once.

    Runs in the activation's transaction and makes no network call; the charge is collected
    after the commit (``collect_charges``) or by the next billing run, which collects every
    charge left pending.
    """
    if plan is None or plan.kind is not PlanKind.ONE_TIME or plan.amount <= 0:
        return []
    existing = await session.scalar(
        select(Charge.id)
        .where(Charge.installation_id == installation.id, Charge.kind == ChargeKind.ONE_TIME)
        .limit(1)
    )
    if existing is not None:
        return []
    partner_id = await session.scalar(select(App.partner_id).where(App.id == installation.app_id))
    sandbox = await session.scalar(select(Shop.sandbox).where(Shop.id == installation.shop_id))
    day = utc_day(now)
    charge = Charge(
        installation_id=installation.id,
        partner_id=partner_id,
        shop_id=installation.shop_id,
        kind=ChargeKind.ONE_TIME,
        period_start=day,
        period_end=day + timedelta(days=1),
        amount=plan.amount,
        currency=plan.currency,
        description=f"{plan.name} (one-time)",
        status=ChargeStatus.PENDING,
        test=bool(sandbox),
        created_at=now,
    )
    session.add(charge)
    await session.flush()
    return [charge]


@dataclass
class CollectionReport:
    collected: list[int] = field(default_factory=list)
    test: list[int] = field(default_factory=list)  # collected without money moving
    failed: dict[int, str] = field(default_factory=dict)  # id -> why
    pending: list[int] = field(default_factory=list)  # outcome unknown; retried next run

    def add(self, other: CollectionReport) -> None:
        self.collected += other.collected
        self.test += other.test
        self.failed.update(other.failed)
        self.pending += other.pending


async def collect_charges(deps: BillingDeps, charge_ids: Iterable[int]) -> CollectionReport:
    """Collect the given charges that are still PENDING, in batches; see the module doc."""
    ids = sorted(set(charge_ids))
    report = CollectionReport()
    for start in range(0, len(ids), COLLECT_BATCH):
        report.add(await _collect_batch(deps, ids[start : start + COLLECT_BATCH]))
    return report


async def _collect_batch(deps: BillingDeps, ids: Sequence[int]) -> CollectionReport:
    async with deps.db.reader() as session:
        rows = (
            await session.execute(
                select(Charge, Shop.name)
                .join(Shop, Shop.id == Charge.shop_id)
                .where(Charge.id.in_(ids), Charge.status == ChargeStatus.PENDING)
            )
        ).all()
    requests = [
        CollectionRequest(
            charge_id=charge.id,
            shop_id=charge.shop_id,
            shop_name=name,
            amount=charge.amount,
            currency=charge.currency,
            description=charge.description,
        )
        for charge, name in rows
        if not charge.test
    ]
    asked = {request.charge_id for request in requests}
    results = await deps.collector.collect(requests) if requests else []
    outcomes: dict[int, CollectionResult] = {
        r.charge_id: r for r in results if r.charge_id in asked
    }
    tests = [charge.id for charge, _ in rows if charge.test]
    report = await _record_outcomes(deps, outcomes, tests)
    report.pending += sorted(asked - set(outcomes))
    return report


async def _record_outcomes(
    deps: BillingDeps, outcomes: dict[int, CollectionResult], tests: list[int]
) -> CollectionReport:
    report = CollectionReport()
    if not outcomes and not tests:
        return report
    now = deps.clock()
    async with deps.db.writer() as session, session.begin():
        charges = (
            await session.scalars(
                select(Charge)
                .where(Charge.id.in_([*outcomes, *tests]), Charge.status == ChargeStatus.PENDING)
                .order_by(Charge.id)
                .with_for_update()
            )
        ).all()
        shares = await _shares_now(session, {charge.partner_id for charge in charges})
        for charge in charges:
            outcome = outcomes.get(charge.id)
            if charge.test or (outcome is not None and outcome.collected):
                charge.status = ChargeStatus.COLLECTED
                charge.earned_at = now
                charge.tier, charge.share_bps = shares[charge.partner_id]
                charge.stripe_invoice_id = outcome.invoice_id if outcome is not None else None
                (report.test if charge.test else report.collected).append(charge.id)
                await post_collection(session, charge)
            elif outcome is not None:
                charge.status = ChargeStatus.FAILED
                charge.stripe_invoice_id = outcome.invoice_id
                report.failed[charge.id] = outcome.failure or "not collected"
                log.warning("charge %s not collected: %s", charge.id, outcome.failure)
    return report


async def _shares_now(session: AsyncSession, partners: set[int]) -> dict[int, tuple[Tier, int]]:
    """Each partner's tier and that tier's share in basis points, as of this transaction."""
    if not partners:
        return {}
    rows = await session.execute(
        select(Partner.id, Partner.tier, TierPolicy.share_bps)
        .join(TierPolicy, TierPolicy.tier == Partner.tier)
        .where(Partner.id.in_(partners))
    )
    return {row.id: (row.tier, row.share_bps) for row in rows}


CHARGE_ORDER = KeysetOrder("id", Charge.id, Charge.id, True, int)
"""Newest first: ids grow with time, and keyset pages on them are stable."""


@dataclass(frozen=True, slots=True)
class ChargeFilter:
    """Every field given narrows the list; ``earned_to`` is exclusive."""

    partner_id: int | None = None
    shop_id: int | None = None
    installation_id: int | None = None
    status: ChargeStatus | None = None
    kind: ChargeKind | None = None
    test: bool | None = None
    earned_from: datetime | None = None
    earned_to: datetime | None = None


def charge_query(given: ChargeFilter) -> Select[tuple[Charge]]:
    query = select(Charge)
    if given.partner_id is not None:
        query = query.where(Charge.partner_id == given.partner_id)
    if given.shop_id is not None:
        query = query.where(Charge.shop_id == given.shop_id)
    if given.installation_id is not None:
        query = query.where(Charge.installation_id == given.installation_id)
    if given.status is not None:
        query = query.where(Charge.status == given.status)
    if given.kind is not None:
        query = query.where(Charge.kind == given.kind)
    if given.test is not None:
        query = query.where(Charge.test.is_(given.test))
    if given.earned_from is not None:
        query = query.where(Charge.earned_at >= given.earned_from)
    if given.earned_to is not None:
        query = query.where(Charge.earned_at < given.earned_to)
    return query
