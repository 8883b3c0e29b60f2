"""The billing run for one UTC day: open the charges that are due, then collect.

``run_billing(deps, day)`` (``agora billing run --date``) does three things, each safe to
repeat and to run in several workers at once:

1. **Recurring plans.** Every ACTIVE installation on a recurring plan whose trial
   (``activated_at + trial_days``) is over by the end of ``day`` owes the plan's price for the
   calendar period (month or year, UTC) containing ``day``: one charge, never prorated. The
   first charge is for the period in which the trial ends; a period before it is never billed.
2. **Usage plans.** Every period of usage records that is closed by ``day`` (its end is on or
   before ``day``) and not yet charged becomes one usage charge for their sum, when that is
   above zero. Usage is billed whatever the installation's status now: it was recorded while
   the app was installed.
3. **Collection** of every charge still PENDING whose period started by ``day``: this run's
   charges, one-time charges opened at activation, and any left by a failed or unknown
   collection earlier (see ``marketplace.charges``).

A charge is unique per (installation, kind, period start), and charges are inserted with
``ON CONFLICT DO NOTHING``, so a second run for the same day, or a concurrent one, opens
nothing twice. Sandbox installations get test charges (see ``marketplace.charges``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import case, exists, func, literal, select

from app.db import dialect_insert
from app.identity.models import Shop
from marketplace.app_models import App, Installation, InstallationStatus
from marketplace.billing_models import Charge, ChargeKind, ChargeStatus, UsageRecord
from marketplace.charges import (
    BillingDeps,
    CollectionReport,
    Period,
    collect_charges,
    period_of,
)
from marketplace.listing_models import PlanInterval, PlanKind, PricingPlan

__all__ = ["BillingReport", "run_billing"]

BATCH = 200


@dataclass
class BillingReport:
    day: date
    recurring: list[int] = field(default_factory=list)  # charges opened by this run
    usage: list[int] = field(default_factory=list)
    collection: CollectionReport = field(default_factory=CollectionReport)

    def render(self) -> str:
        c = self.collection
        return (
            f"Billing for {self.day.isoformat()}: {len(self.recurring)} recurring and "
            f"{len(self.usage)} usage charges opened; {len(c.collected)} collected, "
            f"{len(c.test)} test charges marked, {len(c.failed)} failed, "
            f"{len(c.pending)} left pending."
        )


async def run_billing(deps: BillingDeps, day: date) -> BillingReport:
    now = deps.clock()
    report = BillingReport(day)
    report.recurring = await _open_recurring(deps, day, now)
    report.usage = await _open_usage(deps, day, now)
    report.collection = await collect_charges(deps, await _pending_by(deps, day))
    return report


def _day_end(day: date) -> datetime:
    return datetime.combine(day + timedelta(days=1), time(), tzinfo=UTC)


def _trial_over(activated_at: datetime, trial_days: int, day: date) -> bool:
    return activated_at + timedelta(days=trial_days) < _day_end(day)


async def _open_recurring(deps: BillingDeps, day: date, now: datetime) -> list[int]:
    month, year = period_of(day, PlanInterval.MONTH), period_of(day, PlanInterval.YEAR)
    period_start = case(
        (PricingPlan.interval == PlanInterval.YEAR, literal(year.start)), else_=literal(month.start)
    )
    charged = exists().where(
        Charge.installation_id == Installation.id,
        Charge.kind == ChargeKind.RECURRING,
        Charge.period_start == period_start,
    )
    query = (
        select(
            Installation.id,
            Installation.shop_id,
            Installation.activated_at,
            App.partner_id,
            Shop.sandbox,
            PricingPlan.name,
            PricingPlan.amount,
            PricingPlan.currency,
            PricingPlan.interval,
            PricingPlan.trial_days,
        )
        .join(App, App.id == Installation.app_id)
        .join(Shop, Shop.id == Installation.shop_id)
        .join(PricingPlan, PricingPlan.id == Installation.plan_id)
        .where(
            Installation.status == InstallationStatus.ACTIVE,
            Installation.activated_at.is_not(None),
            Installation.activated_at < _day_end(day),
            PricingPlan.kind == PlanKind.RECURRING,
            PricingPlan.amount > 0,
            ~charged,
        )
        .order_by(Installation.id)
        .limit(BATCH)
    )
    opened: list[int] = []
    after = 0
    while True:
        async with deps.db.reader() as session:
            rows = (await session.execute(query.where(Installation.id > after))).all()
        if not rows:
            return opened
        after = rows[-1].id
        due = [
            _charge_row(
                row,
                ChargeKind.RECURRING,
                period_of(day, row.interval),
                row.amount,
                f"{row.name} ({_period_label(period_of(day, row.interval), row.interval)})",
                now,
            )
            for row in rows
            if _trial_over(row.activated_at, row.trial_days, day)
        ]
        opened += await _insert_new(deps, due)


async def _open_usage(deps: BillingDeps, day: date, now: datetime) -> list[int]:
    charged = exists().where(
        Charge.installation_id == UsageRecord.installation_id,
        Charge.kind == ChargeKind.USAGE,
        Charge.period_start == UsageRecord.period_start,
    )
    totals = (
        select(
            UsageRecord.installation_id,
            UsageRecord.period_start,
            func.sum(UsageRecord.amount).label("total"),
        )
        .where(UsageRecord.period_start < day, ~charged)
        .group_by(UsageRecord.installation_id, UsageRecord.period_start)
        .subquery()
    )
    query = (
        select(
            Installation.id,
            Installation.shop_id,
            App.partner_id,
            Shop.sandbox,
            PricingPlan.name,
            PricingPlan.currency,
            PricingPlan.interval,
            totals.c.period_start,
            totals.c.total,
        )
        .join(Installation, Installation.id == totals.c.installation_id)
        .join(App, App.id == Installation.app_id)
        .join(Shop, Shop.id == Installation.shop_id)
        .join(PricingPlan, PricingPlan.id == Installation.plan_id)
        .where(totals.c.total > 0)
        .order_by(Installation.id, totals.c.period_start)
    )
    async with deps.db.reader() as session:
        rows = (await session.execute(query)).all()
    due = []
    for row in rows:
        period = period_of(row.period_start, row.interval)
        if period.start != row.period_start or period.end > day:
            continue  # still open (or recorded under another interval: left alone)
        label = _period_label(period, row.interval)
        due.append(
            _charge_row(
                row, ChargeKind.USAGE, period, int(row.total), f"{row.name} usage ({label})", now
            )
        )
    opened: list[int] = []
    for start in range(0, len(due), BATCH):
        opened += await _insert_new(deps, due[start : start + BATCH])
    return opened


async def _pending_by(deps: BillingDeps, day: date) -> list[int]:
    async with deps.db.reader() as session:
        ids = await session.scalars(
            select(Charge.id)
            .where(Charge.status == ChargeStatus.PENDING, Charge.period_start <= day)
            .order_by(Charge.id)
        )
        return list(ids)


def _period_label(period: Period, interval: PlanInterval | None) -> str:
    start = period.start
    return str(start.year) if interval is PlanInterval.YEAR else start.strftime("%Y-%m")


def _charge_row(
    row: Any, kind: ChargeKind, period: Period, amount: int, description: str, now: datetime
) -> dict[str, Any]:
    return {
        "installation_id": row.id,
        "partner_id": row.partner_id,
        "shop_id": row.shop_id,
        "kind": kind,
        "period_start": period.start,
        "period_end": period.end,
        "amount": amount,
        "currency": row.currency,
        "description": description[:500],
        "status": ChargeStatus.PENDING,
        "test": bool(row.sandbox),
        "created_at": now,
    }


async def _insert_new(deps: BillingDeps, rows: Sequence[dict[str, Any]]) -> list[int]:
    """Insert the charges that do not exist yet; the ids of those this call made."""
    if not rows:
        return []
    async with deps.db.writer() as session, session.begin():
        statement = dialect_insert(session, Charge).values(list(rows))
        statement = statement.on_conflict_do_nothing(
            index_elements=[Charge.installation_id, Charge.kind, Charge.period_start]
        ).returning(Charge.id)
        return sorted((await session.execute(statement)).scalars())
