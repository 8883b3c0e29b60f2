"""Usage records: what an app reports its shop used, priced by the installation's usage plan.

A record costs ``quantity`` times the plan's unit price and belongs to the UTC calendar period
(month, or year for a yearly plan) in which it is recorded. A period's records may add up to
the plan's ``usage_cap`` and no further: a record that would pass it is refused whole, never
trimmed. Concurrent records are serialized on the installation's row (``FOR UPDATE`` on
PostgreSQL; SQLite writers take the database lock up front), so the sum a record is checked
against always includes every record committed before it.

Each record is made once per idempotency key (scoped to the calling app and the
installation): a replay returns the first record, the same key with other input is refused,
and a refused record leaves its key unused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError
from marketplace.app_models import App, Installation, InstallationStatus
from marketplace.billing_models import UsageRecord
from marketplace.charges import BillingDeps, period_of, utc_day
from marketplace.errors import MarketplaceErrorCode
from marketplace.idempotent import run_keyed
from marketplace.listing_models import PlanKind, PricingPlan

__all__ = [
    "MAX_DESCRIPTION_LENGTH",
    "MAX_QUANTITY",
    "RecordedUsage",
    "period_usage",
    "record_usage_once",
]

MAX_QUANTITY = 10**9
MAX_DESCRIPTION_LENGTH = 500

OnRecorded = Callable[[AsyncSession, UsageRecord], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class RecordedUsage:
    id: int
    installation_id: int
    quantity: int
    amount: int
    currency: str
    description: str
    period_start: date
    created_at: datetime
    replayed: bool


async def record_usage_once(
    services: BillingDeps,
    installation_id: int,
    quantity: int,
    description: str,
    key: str,
    caller_client_id: str,
    *,
    shop_id: int | None = None,
    on_recorded: OnRecorded | None = None,
) -> RecordedUsage:
    """Record usage for an installation of the caller's app; see the module doc.

    ``shop_id`` is the shop the caller's token is for: an installation elsewhere is not found.
    ``on_recorded`` runs in the record's transaction (an audit record), never on a replay.
    """
    _check_input(quantity, description)

    async def effect(session: AsyncSession) -> dict[str, Any]:
        record = await _record(
            session,
            installation_id,
            quantity,
            description,
            caller_client_id,
            shop_id,
            services.clock(),
        )
        if on_recorded is not None:
            await on_recorded(session, record)
        return {"usage_record_id": record.id}

    request = {"installation": installation_id, "quantity": quantity, "description": description}
    result, replayed = await run_keyed(
        services.db.writer,
        scope=f"usage_record:{caller_client_id}:{installation_id}",
        key=key,
        request=request,
        effect=effect,
        conflict="This idempotency key was used with different input.",
    )
    async with services.db.reader() as session:
        row = (
            await session.execute(
                select(UsageRecord, PricingPlan.currency)
                .join(Installation, Installation.id == UsageRecord.installation_id)
                .outerjoin(PricingPlan, PricingPlan.id == Installation.plan_id)
                .where(UsageRecord.id == result["usage_record_id"])
            )
        ).one()
    record, currency = row
    return RecordedUsage(
        id=record.id,
        installation_id=record.installation_id,
        quantity=record.quantity,
        amount=record.amount,
        currency=currency or "",
        description=record.description,
        period_start=record.period_start,
        created_at=record.created_at,
        replayed=replayed,
    )


def _check_input(quantity: int, description: str) -> None:
    if not 1 <= quantity <= MAX_QUANTITY:
        raise DomainError.one(
            MarketplaceErrorCode.INVALID,
            f"The quantity must be from 1 to {MAX_QUANTITY:,}.",
            "quantity",
        )
    if len(description) > MAX_DESCRIPTION_LENGTH:
        raise DomainError.one(
            MarketplaceErrorCode.INVALID,
            f"The description may hold at most {MAX_DESCRIPTION_LENGTH} characters.",
            "description",
        )


async def period_usage(session: AsyncSession, installation_id: int, period_start: date) -> int:
    """What the installation's records of one period add up to, in minor units."""
    total = await session.scalar(
        select(func.coalesce(func.sum(UsageRecord.amount), 0)).where(
            UsageRecord.installation_id == installation_id,
            UsageRecord.period_start == period_start,
        )
    )
    return int(total or 0)


async def _record(
    session: AsyncSession,
    installation_id: int,
    quantity: int,
    description: str,
    caller_client_id: str,
    shop_id: int | None,
    now: datetime,
) -> UsageRecord:
    # The lock that serializes concurrent records of one installation (see the module doc).
    found = (
        await session.execute(
            select(Installation, App.client_id, PricingPlan)
            .join(App, App.id == Installation.app_id)
            .outerjoin(PricingPlan, PricingPlan.id == Installation.plan_id)
            .where(Installation.id == installation_id)
            .with_for_update(of=Installation)
        )
    ).one_or_none()
    if (
        found is None
        or found.client_id != caller_client_id
        or (shop_id is not None and found.Installation.shop_id != shop_id)
    ):
        raise DomainError.one(
            MarketplaceErrorCode.NOT_FOUND, "No such installation of your app.", "installationId"
        )
    installation: Installation = found.Installation
    plan: PricingPlan | None = found.PricingPlan
    if installation.status is not InstallationStatus.ACTIVE:
        raise DomainError.one(
            MarketplaceErrorCode.NOT_INSTALLED, "The app is not installed there.", "installationId"
        )
    if plan is None or plan.kind is not PlanKind.USAGE:
        raise DomainError.one(
            MarketplaceErrorCode.PLAN_MISMATCH,
            "The installation's plan is not usage-based.",
            "installationId",
        )
    amount = quantity * plan.amount
    period = period_of(utc_day(now), plan.interval)
    if plan.usage_cap is not None:
        used = await period_usage(session, installation.id, period.start)
        if used + amount > plan.usage_cap:
            raise DomainError.one(
                MarketplaceErrorCode.USAGE_CAP_EXCEEDED,
                f"This record ({amount} {plan.currency} minor units) would pass the period's "
                f"cap of {plan.usage_cap}; {max(plan.usage_cap - used, 0)} remain.",
                "quantity",
            )
    record = UsageRecord(
        installation_id=installation.id,
        period_start=period.start,
        quantity=quantity,
        amount=amount,
        description=description,
        created_at=now,
    )
    session.add(record)
    await session.flush()
    return record
