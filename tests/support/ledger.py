"""Money that really went through the ledger, at times the test names.

A charge is made PENDING and collected through ``marketplace.charges.collect_charges`` with a
clock set to the earning time, so its tier and share are frozen as the partner's are then and
the collection is posted as in production. Refunds go through ``refund_charge_once``. Runs are
created and approved through the settlement service.

Every settlement test takes its months from ``next_year()``: years only ever grow across the
session, so runs of a currency are always created in period order whatever order the tests run
in, and no test's period holds another test's money.
"""

from __future__ import annotations

import itertools
import uuid
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import func, select

from app.db import Database
from marketplace.billing_models import Charge, ChargeKind, ChargeStatus
from marketplace.charge_refunds import RefundRequest, refund_charge_once
from marketplace.charges import collect_charges
from marketplace.collection import CollectedOutsideAgora
from marketplace.ledger import unbalanced_transactions
from marketplace.ledger_models import LedgerEntry
from marketplace.models import Tier
from marketplace.settlement import approve_run, create_run
from marketplace.settlement_models import SettlementRun, Statement, StatementLine
from tests.support.billing import Billing, FixedClock, make_installation
from tests.support.factories import World
from tests.support.marketplace import make_app, make_partner

__all__ = [
    "Earner",
    "approve",
    "assert_balanced",
    "earn",
    "entry_count",
    "lines_of",
    "make_earner",
    "moment",
    "next_year",
    "refund",
    "settle",
    "statement_of",
]

_years = itertools.count(2031)


def next_year() -> int:
    """A year no settlement test has used yet in this session."""
    return next(_years)


def moment(year: int, month: int, day: int = 5, hour: int = 12) -> datetime:
    return datetime(year, month, day, hour, tzinfo=UTC)


@dataclass
class Earner:
    """A partner with an app installed in the world's shop, ready to earn charges."""

    world: World
    partner_id: int
    owner_token: str
    installation_id: int
    _days: itertools.count[int] = field(default_factory=itertools.count)

    @property
    def db(self) -> Database:
        return self.world.services.db


async def make_earner(world: World, tier: Tier = Tier.STANDARD) -> Earner:
    partner, token = await make_partner(world, tier=tier)
    app, _ = await make_app(world, partner)
    installation = await make_installation(world, app, None, activated_at=moment(2020, 1))
    return Earner(world, partner, token, installation.id)


async def earn(earner: Earner, amount: int, currency: str, at: datetime) -> int:
    """A charge of ``amount`` collected (earned) at ``at``: its id."""
    day = date(2000, 1, 1) + timedelta(days=next(earner._days))
    async with earner.db.writer() as session, session.begin():
        charge = Charge(
            installation_id=earner.installation_id,
            partner_id=earner.partner_id,
            shop_id=earner.world.shop.id,
            kind=ChargeKind.ONE_TIME,
            period_start=day,
            period_end=day + timedelta(days=1),
            amount=amount,
            currency=currency,
            status=ChargeStatus.PENDING,
            created_at=at,
        )
        session.add(charge)
    billing = Billing(earner.db, FixedClock(at), CollectedOutsideAgora())
    report = await collect_charges(billing, [charge.id])
    assert report.collected == [charge.id], report
    return charge.id


async def refund(world: World, charge_id: int, amount: int, at: datetime) -> int:
    """Give ``amount`` of the charge back to the shop at ``at``: the refund's id."""
    request = RefundRequest(charge_id, amount, "test", "user:finance", uuid.uuid4().hex)
    refund_id, _ = await refund_charge_once(world.services.db.writer, request, now=at)
    return refund_id


async def settle(
    world: World,
    period: str,
    currency: str,
    *,
    actor: str = "user:maker",
    timezone: str = "UTC",
    db: Database | None = None,
) -> SettlementRun:
    database = db or world.services.db
    async with database.writer() as session, session.begin():
        run, _ = await create_run(
            session,
            period=period,
            currency=currency,
            timezone=timezone,
            actor=actor,
            now=datetime.now(UTC),
        )
    return run


async def approve(
    world: World, run_id: int, *, actor: str = "user:checker", db: Database | None = None
) -> SettlementRun:
    database = db or world.services.db
    async with database.writer() as session, session.begin():
        return await approve_run(session, run_id, actor=actor, now=datetime.now(UTC))


async def statement_of(
    world: World, run_id: int, partner_id: int, db: Database | None = None
) -> Statement | None:
    async with (db or world.services.db).reader() as session:
        return await session.scalar(
            select(Statement).where(Statement.run_id == run_id, Statement.partner_id == partner_id)
        )


async def lines_of(
    world: World, statement_id: int, db: Database | None = None
) -> list[StatementLine]:
    async with (db or world.services.db).reader() as session:
        rows = await session.scalars(
            select(StatementLine)
            .where(StatementLine.statement_id == statement_id)
            .order_by(StatementLine.occurred_at, StatementLine.id)
        )
        return list(rows)


async def entry_count(db: Database) -> int:
    async with db.reader() as session:
        return int(await session.scalar(select(func.count(LedgerEntry.id))) or 0)


async def assert_balanced(db: Database) -> None:
    async with db.reader() as session:
        assert await unbalanced_transactions(session) == []
