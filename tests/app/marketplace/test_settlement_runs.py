"""Settlement runs: idempotent per period, never overlapping, in order; statements that carry a
negative net forward, tell refunds from clawbacks, and never show a test charge."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest
from sqlalchemy import func, select

from app.errors import DomainError
from marketplace.billing_models import Charge, ChargeKind, ChargeStatus
from marketplace.charges import collect_charges
from marketplace.collection import CollectedOutsideAgora
from marketplace.errors import MarketplaceErrorCode
from marketplace.ledger_models import LedgerEntry
from marketplace.settlement import period_window
from marketplace.settlement_models import LineKind, RunStatus, Statement
from tests.support.billing import Billing, FixedClock
from tests.support.factories import World
from tests.support.ledger import (
    Earner,
    approve,
    earn,
    lines_of,
    make_earner,
    moment,
    next_year,
    refund,
    settle,
    statement_of,
)

pytestmark = pytest.mark.anyio

CURRENCY = "CHF"


def _code(error: pytest.ExceptionInfo[DomainError]) -> MarketplaceErrorCode:
    return error.value.problems[0].code  # type: ignore[return-value]


def test_a_period_is_the_calendar_month_in_the_settlement_time_zone() -> None:
    shanghai = period_window("2026-11", "Asia/Shanghai")
    utc = period_window("2026-12", "UTC")

    assert (shanghai.starts_at, shanghai.ends_at) == (
        datetime(2026, 10, 31, 16, tzinfo=UTC),
        datetime(2026, 11, 30, 16, tzinfo=UTC),
    )
    assert (utc.starts_at, utc.ends_at) == (
        datetime(2026, 12, 1, tzinfo=UTC),
        datetime(2027, 1, 1, tzinfo=UTC),
    )
    for bad in ("2026-13", "2026-1", "26-11", "2026-11-01"):
        with pytest.raises(DomainError):
            period_window(bad, "UTC")
    with pytest.raises(DomainError):
        period_window("2026-11", "Mars/Olympus")


async def test_the_same_period_twice_is_the_same_run(world: World) -> None:
    earner = await make_earner(world)
    year = next_year()
    await earn(earner, 1000, CURRENCY, moment(year, 2))

    first = await settle(world, f"{year}-02", CURRENCY)
    second = await settle(world, f"{year}-02", CURRENCY, actor="user:someone-else")

    assert second.id == first.id and second.created_by == first.created_by
    async with world.services.db.reader() as session:
        count = await session.scalar(select(func.count()).where(Statement.run_id == first.id))
    assert count == 1


async def test_an_overlapping_period_is_refused(world: World) -> None:
    # Given March settled in UTC
    year = next_year()
    await settle(world, f"{year}-03", CURRENCY)

    # When the time zone changes to Shanghai and April is settled, it would start on 31 March
    with pytest.raises(DomainError) as refused:
        await settle(world, f"{year}-04", CURRENCY, timezone="Asia/Shanghai")

    # Then it is refused, and a month that does not overlap is fine
    assert _code(refused) is MarketplaceErrorCode.OVERLAPPING_PERIOD
    may = await settle(world, f"{year}-05", CURRENCY, timezone="Asia/Shanghai")
    assert (may.timezone, may.starts_at) == ("Asia/Shanghai", datetime(year, 4, 30, 16, tzinfo=UTC))


async def test_a_period_before_the_latest_run_is_refused(world: World) -> None:
    year = next_year()
    await settle(world, f"{year}-06", CURRENCY)

    with pytest.raises(DomainError) as refused:
        await settle(world, f"{year}-04", CURRENCY)

    assert _code(refused) is MarketplaceErrorCode.WRONG_STATE


async def _month(world: World, year: int, month: int, *, frozen: bool = True) -> int:
    run = await settle(world, f"{year}-{month:02d}", CURRENCY)
    if frozen:
        await approve(world, run.id)
    return run.id


async def _net(world: World, run_id: int, earner: Earner) -> tuple[int, int]:
    statement = await statement_of(world, run_id, earner.partner_id)
    assert statement is not None
    return statement.carried_in, statement.net_payable


async def test_a_negative_net_is_carried_into_the_next_statement(world: World) -> None:
    # Given 10.00 earned in January (7.00 for the partner), settled and frozen
    earner = await make_earner(world)
    year = next_year()
    january = await earn(earner, 1000, CURRENCY, moment(year, 1))
    january_run = await _month(world, year, 1)
    # And in February the January charge is refunded in full while only 2.00 is earned
    await refund(world, january, 1000, moment(year, 2, 3))
    await earn(earner, 200, CURRENCY, moment(year, 2, 9))
    # And nothing happens in March; 10.00 is earned in April
    await earn(earner, 1000, CURRENCY, moment(year, 4))

    february_run = await _month(world, year, 2)
    march_run = await _month(world, year, 3)
    april_run = await _month(world, year, 4)

    # Then February's net is 1.40 - 7.00 = -5.60, paid nothing and carried forward
    assert await _net(world, january_run, earner) == (0, 700)
    assert await _net(world, february_run, earner) == (0, -560)
    # And March has no statement for the partner; April takes the -5.60: 7.00 - 5.60
    assert await statement_of(world, march_run, earner.partner_id) is None
    assert await _net(world, april_run, earner) == (-560, 140)


async def test_a_refund_in_the_same_period_is_a_refund_line(world: World) -> None:
    earner = await make_earner(world)
    year = next_year()
    charge = await earn(earner, 1000, CURRENCY, moment(year, 5, 2))
    await refund(world, charge, 400, moment(year, 5, 20))

    run = await settle(world, f"{year}-05", CURRENCY)

    statement = await statement_of(world, run.id, earner.partner_id)
    assert statement is not None
    assert (statement.partner_amount, statement.refunds, statement.clawbacks) == (700, 280, 0)
    assert statement.net_payable == 420
    refund_line = (await lines_of(world, statement.id))[1]
    assert (refund_line.kind, refund_line.gross, refund_line.partner_amount, refund_line.fee) == (
        LineKind.REFUND,
        -400,
        -280,
        -120,
    )
    assert refund_line.original_statement_id is None


async def test_a_test_charge_is_never_posted_nor_settled(world: World) -> None:
    # Given a sandbox charge collected beside a real one
    earner = await make_earner(world)
    year = next_year()
    real = await earn(earner, 1000, CURRENCY, moment(year, 7))
    async with world.services.db.writer() as session, session.begin():
        sandbox = Charge(
            installation_id=earner.installation_id,
            partner_id=earner.partner_id,
            shop_id=world.shop.id,
            kind=ChargeKind.USAGE,
            period_start=date(year, 7, 1),
            period_end=date(year, 8, 1),
            amount=5000,
            currency=CURRENCY,
            test=True,
        )
        session.add(sandbox)
    billing = Billing(world.services.db, FixedClock(moment(year, 7, 6)), CollectedOutsideAgora())
    assert (await collect_charges(billing, [sandbox.id])).test == [sandbox.id]

    run = await settle(world, f"{year}-07", CURRENCY)

    async with world.services.db.reader() as session:
        posted = await session.scalar(
            select(func.count()).where(LedgerEntry.charge_id == sandbox.id)
        )
        collected = await session.get(Charge, sandbox.id)
    assert posted == 0 and collected is not None and collected.status is ChargeStatus.COLLECTED
    statement = await statement_of(world, run.id, earner.partner_id)
    assert statement is not None and statement.gross == 1000
    assert [line.charge_id for line in await lines_of(world, statement.id)] == [real]


async def test_the_creator_cannot_approve_and_approving_twice_changes_nothing(
    world: World,
) -> None:
    earner = await make_earner(world)
    year = next_year()
    await earn(earner, 1000, CURRENCY, moment(year, 8))
    run = await settle(world, f"{year}-08", CURRENCY, actor="user:alice")

    with pytest.raises(DomainError) as refused:
        await approve(world, run.id, actor="user:alice")
    first = await approve(world, run.id, actor="user:bob")
    frozen = await statement_of(world, run.id, earner.partner_id)
    again = await approve(world, run.id, actor="user:carol")
    still = await statement_of(world, run.id, earner.partner_id)

    assert _code(refused) is MarketplaceErrorCode.SEPARATION_OF_DUTIES
    assert (first.status, first.approved_by) == (RunStatus.APPROVED, "user:bob")
    assert (again.approved_by, again.approved_at) == ("user:bob", first.approved_at)
    assert frozen is not None and still is not None
    assert (still.hash, still.frozen_at) == (frozen.hash, frozen.frozen_at) != (None, None)


async def test_a_run_waits_for_its_partners_earlier_statements_to_be_frozen(
    world: World,
) -> None:
    earner = await make_earner(world)
    year = next_year()
    await earn(earner, 1000, CURRENCY, moment(year, 9))
    await earn(earner, 1000, CURRENCY, moment(year, 10))
    september = await settle(world, f"{year}-09", CURRENCY)
    october = await settle(world, f"{year}-10", CURRENCY)

    with pytest.raises(DomainError) as refused:
        await approve(world, october.id)
    await approve(world, september.id)
    approved = await approve(world, october.id)

    assert _code(refused) is MarketplaceErrorCode.WRONG_STATE
    assert approved.status is RunStatus.APPROVED


async def test_statements_are_per_currency(world: World) -> None:
    earner = await make_earner(world)
    year = next_year()
    await earn(earner, 1000, CURRENCY, moment(year, 11))
    await earn(earner, 50, "JPY", moment(year, 11) + timedelta(hours=1))

    francs = await settle(world, f"{year}-11", CURRENCY)
    yen = await settle(world, f"{year}-11", "JPY")

    swiss = await statement_of(world, francs.id, earner.partner_id)
    japanese = await statement_of(world, yen.id, earner.partner_id)
    assert swiss is not None and japanese is not None
    assert (swiss.gross, japanese.gross, japanese.partner_amount) == (1000, 50, 35)


async def test_a_negative_net_is_carried_into_its_own_partners_statement_only(
    world: World,
) -> None:
    # Given one partner with a negative February and another earning only in March
    owing = await make_earner(world)
    fresh = await make_earner(world)
    year = next_year()
    charge = await earn(owing, 1000, CURRENCY, moment(year, 1))
    await _month(world, year, 1)
    await refund(world, charge, 1000, moment(year, 2))
    await earn(fresh, 1000, CURRENCY, moment(year, 3))
    await _month(world, year, 2)

    march = await _month(world, year, 3)

    # Then the other partner's March carries nothing in
    assert await _net(world, march, fresh) == (0, 700)
    assert await statement_of(world, march, owing.partner_id) is None
