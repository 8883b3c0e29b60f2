"""Settlement runs: a calendar month of one currency, settled from the ledger, then approved.

**Periods** are calendar months in the settlement time zone (``AGORA_SETTLEMENT_TZ``, an IANA
name): ``2026-11`` in ``Asia/Shanghai`` is ``[2026-10-31T16:00Z, 2026-11-30T16:00Z)``. A run
keeps its time zone and its bounds in UTC, and statements read the ledger by those bounds.

**Creating** a run is idempotent per (period, currency): a second create returns the first
run. A run whose bounds overlap another run of the currency (the time zone setting changed in
between) is refused with OVERLAPPING_PERIOD, and so is a month before the currency's latest run
(WRONG_STATE): statements carry balances forward, so periods are settled in order. Runs of one
currency are created one at a time (a PostgreSQL advisory lock; SQLite writers are serialised
anyway). The statements are computed in the same transaction (``marketplace.statements``).

**Approving** is a second finance user's (maker-checker): the creator is refused with
SEPARATION_OF_DUTIES. It freezes the statements, each hashed and chained to the partner's
previous one (``marketplace.statement_hash``), and is idempotent by state. A run is approved
only once every earlier statement of its partners (in its currency) is frozen, so that each
partner's chain runs in the order of its periods.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from app.db import SessionFactory
from app.errors import DomainError
from app.money import CURRENCIES
from app.observability.metrics import SETTLEMENT_DURATION, SETTLEMENT_FAILURES, timed
from marketplace.errors import MarketplaceErrorCode
from marketplace.idempotent import run_keyed
from marketplace.settlement_models import RunStatus, SettlementRun, Statement
from marketplace.statement_hash import freeze_run
from marketplace.statements import build_statements

__all__ = [
    "PeriodWindow",
    "RunRequest",
    "approve_run",
    "checked_currency",
    "create_run",
    "create_run_once",
    "period_window",
]

_PERIOD = re.compile(r"(\d{4})-(\d{2})")
Code = MarketplaceErrorCode


@dataclass(frozen=True, slots=True)
class PeriodWindow:
    """A settlement period: the month as named, in a time zone, and its bounds in UTC."""

    period: str
    timezone: str
    starts_at: datetime
    ends_at: datetime  # exclusive


def period_window(period: str, timezone: str) -> PeriodWindow:
    """``"2026-11"`` in ``timezone`` as UTC bounds; INVALID for a malformed month or zone."""
    match = _PERIOD.fullmatch(period)
    year, month = (int(match[1]), int(match[2])) if match else (0, 0)
    if not 1 <= month <= 12 or not 1970 <= year <= 9998:
        raise DomainError.one(Code.INVALID, "Give the period as YYYY-MM.", "period")
    try:
        zone = ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError) as error:
        raise DomainError.one(
            Code.INVALID, f"{timezone!r} is not a known time zone.", "timezone"
        ) from error
    after = (year + 1, 1) if month == 12 else (year, month + 1)
    return PeriodWindow(
        period=f"{year:04d}-{month:02d}",
        timezone=timezone,
        starts_at=datetime(year, month, 1, tzinfo=zone).astimezone(UTC),
        ends_at=datetime(*after, 1, tzinfo=zone).astimezone(UTC),
    )


def checked_currency(currency: str) -> str:
    code = currency.strip().upper()
    if code not in CURRENCIES:
        raise DomainError.one(Code.INVALID, f"{currency!r} is not a currency.", "currency")
    return code


async def _one_at_a_time(session: AsyncSession, currency: str) -> None:
    if session.get_bind().dialect.name == "postgresql":
        lock = func.pg_advisory_xact_lock(func.hashtext(f"settlement:{currency}"))
        await session.execute(select(lock))


async def _refuse_conflicts(session: AsyncSession, window: PeriodWindow, currency: str) -> None:
    overlapping = await session.scalar(
        select(SettlementRun.period)
        .where(
            SettlementRun.currency == currency,
            SettlementRun.starts_at < window.ends_at,
            SettlementRun.ends_at > window.starts_at,
        )
        .limit(1)
    )
    if overlapping is not None:
        raise DomainError.one(
            Code.OVERLAPPING_PERIOD,
            f"{window.period} in {window.timezone} overlaps the {currency} run for {overlapping}.",
            "period",
        )
    later = await session.scalar(
        select(SettlementRun.period)
        .where(SettlementRun.currency == currency, SettlementRun.starts_at >= window.ends_at)
        .limit(1)
    )
    if later is not None:
        raise DomainError.one(
            Code.WRONG_STATE,
            f"{currency} is settled up to {later} already; periods are settled in order.",
            "period",
        )


@timed(SETTLEMENT_DURATION, SETTLEMENT_FAILURES, labels={"step": "create"}, refusals=(DomainError,))
async def create_run(
    session: AsyncSession,
    *,
    period: str,
    currency: str,
    timezone: str,
    actor: str,
    now: datetime,
    on_step: Callable[[str], None] | None = None,
) -> tuple[SettlementRun, bool]:
    """The run for (period, currency) with its statements: ``(run, created)``. ``on_step``
    hears each step of the computation (``marketplace.statements.STEPS``)."""
    currency = checked_currency(currency)
    window = period_window(period, timezone)
    await _one_at_a_time(session, currency)
    query = select(SettlementRun).where(
        SettlementRun.period == window.period, SettlementRun.currency == currency
    )
    existing = await session.scalar(query)
    if existing is not None:
        return existing, False
    await _refuse_conflicts(session, window, currency)
    run = SettlementRun(
        period=window.period,
        currency=currency,
        timezone=window.timezone,
        starts_at=window.starts_at,
        ends_at=window.ends_at,
        status=RunStatus.DRAFT,
        created_by=actor,
        created_at=now,
    )
    try:
        async with session.begin_nested():
            session.add(run)
            await session.flush()
    except IntegrityError:  # a concurrent create of the same period won
        found = await session.scalar(query)
        if found is None:
            raise
        return found, False
    await build_statements(session, run, now, on_step)
    return run, True


@dataclass(frozen=True, slots=True)
class RunRequest:
    period: str
    currency: str
    timezone: str
    actor: str
    key: str


async def create_run_once(
    writer: SessionFactory,
    request: RunRequest,
    *,
    now: datetime,
    on_created: Callable[[AsyncSession, int], Awaitable[None]] | None = None,
) -> tuple[int, bool]:
    """``(run id, replayed)`` under an idempotency key; ``on_created`` (the audit) runs in the
    same transaction. A key reused with another period or currency is IDEMPOTENCY_CONFLICT."""

    async def effect(session: AsyncSession) -> dict[str, int]:
        run, _ = await create_run(
            session,
            period=request.period,
            currency=request.currency,
            timezone=request.timezone,
            actor=request.actor,
            now=now,
        )
        if on_created is not None:
            await on_created(session, run.id)
        return {"run_id": run.id}

    fingerprint = {"period": request.period, "currency": request.currency.strip().upper()}
    result, replayed = await run_keyed(
        writer,
        scope="settlement-run",
        key=request.key,
        request=fingerprint,
        effect=effect,
        conflict="This idempotency key was used with another period or currency.",
    )
    return result["run_id"], replayed


@timed(
    SETTLEMENT_DURATION, SETTLEMENT_FAILURES, labels={"step": "approve"}, refusals=(DomainError,)
)
async def approve_run(
    session: AsyncSession, run_id: int, *, actor: str, now: datetime
) -> SettlementRun:
    """Freeze the run's statements; a no-op for a run already approved (or paid)."""
    run = await session.scalar(
        select(SettlementRun).where(SettlementRun.id == run_id).with_for_update()
    )
    if run is None:
        raise DomainError.one(Code.NOT_FOUND, "No such settlement run.", "runId")
    if run.created_by == actor:
        raise DomainError.one(
            Code.SEPARATION_OF_DUTIES,
            "A run is approved by another finance user than the one who created it.",
            "runId",
        )
    if run.status is not RunStatus.DRAFT:
        return run
    unfrozen = aliased(Statement)
    earlier = await session.scalar(
        select(SettlementRun.period)
        .join(unfrozen, unfrozen.run_id == SettlementRun.id)
        .where(
            SettlementRun.currency == run.currency,
            SettlementRun.starts_at < run.starts_at,
            unfrozen.frozen_at.is_(None),
            unfrozen.partner_id.in_(select(Statement.partner_id).where(Statement.run_id == run.id)),
        )
        .order_by(SettlementRun.starts_at)
        .limit(1)
    )
    if earlier is not None:
        raise DomainError.one(
            Code.WRONG_STATE,
            f"Approve the {run.currency} run for {earlier} first: it holds statements of "
            "partners in this run, and each partner's statements are chained in period order.",
            "runId",
        )
    await freeze_run(session, run, now)
    run.status = RunStatus.APPROVED
    run.approved_by = actor
    run.approved_at = now
    await session.flush()
    return run
