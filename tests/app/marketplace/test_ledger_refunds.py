"""Refunds of app charges: never more than the charge, even when they race, each posted to the
ledger split by the charge's own share; and the ledger refuses any edit of what was posted."""

from __future__ import annotations

import uuid

import anyio
import pytest
from sqlalchemy import func, select, text
from sqlalchemy.exc import DBAPIError

from app.errors import DomainError
from marketplace.billing_models import Charge
from marketplace.charge_refunds import RefundRequest, refund_charge_once
from marketplace.errors import MarketplaceErrorCode
from marketplace.ledger_models import LedgerEntry, PostingKind
from marketplace.models import Tier
from tests.support.factories import World
from tests.support.ledger import assert_balanced, earn, make_earner, moment, next_year

pytestmark = pytest.mark.anyio

CURRENCY = "PLN"


async def test_racing_refunds_never_pass_the_charge(world: World) -> None:
    # Given a collected charge of 10.00
    earner = await make_earner(world, Tier.ADVANCED)
    at = moment(next_year(), 6)
    charge = await earn(earner, 1000, CURRENCY, at)
    outcomes: list[str] = []

    async def refund_three() -> None:
        request = RefundRequest(charge, 300, "race", "user:finance", uuid.uuid4().hex)
        try:
            await refund_charge_once(world.services.db.writer, request, now=at)
            outcomes.append("refunded")
        except DomainError as error:
            outcomes.append(str(error.problems[0].code))

    # When six refunds of 3.00 race
    async with anyio.create_task_group() as group:
        for _ in range(6):
            group.start_soon(refund_three)

    # Then exactly three got through, and the ledger holds exactly those
    assert sorted(outcomes) == ["REFUND_EXCEEDS_CHARGE"] * 3 + ["refunded"] * 3
    async with world.services.db.reader() as session:
        refunded = await session.scalar(select(Charge.refunded_amount).where(Charge.id == charge))
        payable_back = await session.scalar(
            select(func.sum(LedgerEntry.amount)).where(
                LedgerEntry.charge_id == charge,
                LedgerEntry.kind == PostingKind.REFUND,
                LedgerEntry.partner_id == earner.partner_id,
            )
        )
    assert refunded == 900
    assert payable_back == 3 * 240  # 3.00 at 80 %
    await assert_balanced(world.services.db)


async def test_a_refund_beyond_the_charge_is_refused(world: World) -> None:
    earner = await make_earner(world)
    charge = await earn(earner, 1000, CURRENCY, moment(next_year(), 6))
    request = RefundRequest(charge, 1001, "too much", "user:finance", uuid.uuid4().hex)

    with pytest.raises(DomainError) as refused:
        await refund_charge_once(world.services.db.writer, request, now=moment(2031, 1))

    assert refused.value.problems[0].code is MarketplaceErrorCode.REFUND_EXCEEDS_CHARGE


async def test_posted_entries_can_never_be_edited(world: World) -> None:
    earner = await make_earner(world)
    charge = await earn(earner, 1000, CURRENCY, moment(next_year(), 6))

    for statement in (
        "UPDATE ledger_entries SET amount = 0 WHERE charge_id = :c",
        "DELETE FROM ledger_entries WHERE charge_id = :c",
    ):
        with pytest.raises(DBAPIError, match="append-only"):
            async with world.services.db.writer() as session, session.begin():
                await session.execute(text(statement), {"c": charge})
    await assert_balanced(world.services.db)
