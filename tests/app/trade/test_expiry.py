"""Unpaid card orders expire after the payment timeout and give their stock back, exactly once,
however many job runs see them; paid orders and manual (bank transfer) orders never expire.

Without a Stripe key no card order can be placed, so each "card order" here is a bank-transfer
order switched to STRIPE in the database, with the deadline checkout would have given it.
"""

from __future__ import annotations

import asyncio
import os
import uuid
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import func, select, update

from app.errors import DomainError
from app.goods.models import InventoryLevel
from app.jobs import run_jobs_once
from app.trade import payment_outcomes
from app.trade.checkout import CheckoutRequest, complete_checkout
from app.trade.lifecycle import cancel_order, expire_unpaid_orders, mark_order_paid
from app.trade.order_models import (
    Order,
    OrderAllocation,
    OrderEvent,
    OrderLine,
    OrderStatus,
    PaymentMethod,
)
from app.trade.payment_models import Payment
from app.trade.payment_outcomes import ProviderOutcome, apply_provider_outcome
from app.trade.payments import MANUAL
from app.trade.services import TradeServices
from tests.support.clock import MutableClock
from tests.support.factories import World
from tests.support.trade import ready_cart, ship_to, stocked_variant

pytestmark = pytest.mark.anyio

ON_POSTGRES = os.environ.get("AGORA_DATABASE_URL", "").startswith("postgresql")


def _trade(world: World) -> TradeServices:
    return world.services.trade  # type: ignore[no-any-return]


async def _checkout(world: World, variant: int, quantity: int = 1) -> int:
    cart = await ready_cart(world, variant, quantity)
    request = CheckoutRequest(
        shop_id=world.shop.id,
        cart_id=cart,
        user_id=None,
        method=PaymentMethod.BANK_TRANSFER,
        key=uuid.uuid4().hex,
    )
    return (await complete_checkout(_trade(world), request)).order_id


async def _as_card_order(world: World, order: int, *, overdue: bool = True) -> None:
    """Make ``order`` an unpaid STRIPE order, past its deadline or with the usual one."""
    trade = _trade(world)
    now = trade.clock()
    deadline = now - timedelta(minutes=1) if overdue else now + trade.payment_timeout
    async with trade.db.writer() as session, session.begin():
        await session.execute(
            update(Order)
            .where(Order.id == order)
            .values(payment_method=PaymentMethod.STRIPE, expires_at=deadline)
        )


async def _state(world: World, order: int) -> tuple[OrderStatus, list[str]]:
    async with _trade(world).db.reader() as session:
        row = await session.get(Order, order, populate_existing=True)
        kinds = await session.scalars(
            select(OrderEvent.kind).where(OrderEvent.order_id == order).order_by(OrderEvent.id)
        )
        assert row is not None
        return row.status, list(kinds)


async def _held(world: World, variant: int) -> int:
    async with _trade(world).db.reader() as session:
        held = await session.scalar(
            select(func.sum(InventoryLevel.reserved)).where(InventoryLevel.variant_id == variant)
        )
    return int(held or 0)


async def test_an_unpaid_card_order_expires_after_the_timeout_and_its_stock_sells_again(
    world: World, clock: MutableClock
) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=2)
    order = await _checkout(world, variant, 2)
    await _as_card_order(world, order, overdue=False)
    waiting = await ready_cart(world, variant, 2)
    with pytest.raises(DomainError) as sold_out:
        await complete_checkout(
            _trade(world),
            CheckoutRequest(world.shop.id, waiting, None, PaymentMethod.BANK_TRANSFER, "early"),
        )
    assert [p.code.value for p in sold_out.value.problems] == ["INSUFFICIENT_STOCK"]

    await run_jobs_once(_trade(world))
    assert await _state(world, order) == (OrderStatus.OPEN, ["PLACED"])  # not yet due

    clock.advance(_trade(world).payment_timeout.total_seconds() + 1)
    await run_jobs_once(_trade(world))

    assert await _state(world, order) == (OrderStatus.EXPIRED, ["PLACED", "EXPIRED"])
    assert await _held(world, variant) == 0
    async with _trade(world).db.reader() as session:
        released = await session.scalars(
            select(OrderAllocation.released_at)
            .join(OrderLine, OrderLine.id == OrderAllocation.line_id)
            .where(OrderLine.order_id == order)
        )
        assert all(moment is not None for moment in released)
    again = await complete_checkout(
        _trade(world),
        CheckoutRequest(world.shop.id, waiting, None, PaymentMethod.BANK_TRANSFER, "later"),
    )
    assert again.order_id != order
    assert await _held(world, variant) == 2


async def test_paid_and_manual_orders_never_expire(world: World) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=10)
    paid_card = await _checkout(world, variant)
    async with _trade(world).db.writer() as session, session.begin():
        await mark_order_paid(session, world.shop.id, paid_card, actor="test")
    await _as_card_order(world, paid_card)
    bank_transfer = await _checkout(world, variant)
    async with _trade(world).db.writer() as session, session.begin():
        await session.execute(
            update(Order)
            .where(Order.id == bank_transfer)
            .values(expires_at=_trade(world).clock() - timedelta(days=1))
        )
    due = await _checkout(world, variant)
    await _as_card_order(world, due)

    await run_jobs_once(_trade(world))

    assert await _state(world, paid_card) == (OrderStatus.OPEN, ["PLACED", "MARKED_PAID"])
    assert await _state(world, bank_transfer) == (OrderStatus.OPEN, ["PLACED"])
    assert (await _state(world, due))[0] is OrderStatus.EXPIRED
    assert await _held(world, variant) == 2


async def test_a_second_run_expires_nothing_twice(world: World) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=10)
    kept = await _checkout(world, variant, 3)  # holds 3 of the same units throughout
    order = await _checkout(world, variant, 2)
    await _as_card_order(world, order)

    await run_jobs_once(_trade(world))
    await run_jobs_once(_trade(world))

    assert await _state(world, order) == (OrderStatus.EXPIRED, ["PLACED", "EXPIRED"])
    assert await _state(world, kept) == (OrderStatus.OPEN, ["PLACED"])
    assert await _held(world, variant) == 3


async def test_a_cancelled_card_order_is_not_expired_again(world: World) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=10)
    kept = await _checkout(world, variant, 3)
    order = await _checkout(world, variant, 2)
    await _as_card_order(world, order)
    async with _trade(world).db.writer() as session, session.begin():
        await cancel_order(
            session, world.shop.id, order, actor="test", reason="", now=_trade(world).clock()
        )

    await run_jobs_once(_trade(world))

    assert await _state(world, order) == (OrderStatus.CANCELLED, ["PLACED", "CANCELLED"])
    assert await _state(world, kept) == (OrderStatus.OPEN, ["PLACED"])
    assert await _held(world, variant) == 3


async def test_concurrent_job_runs_expire_each_order_exactly_once(world: World) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=40)
    kept = [await _checkout(world, variant) for _ in range(10)]
    due = [await _checkout(world, variant) for _ in range(20)]
    for order in due:
        await _as_card_order(world, order)

    counts = await asyncio.gather(*(expire_unpaid_orders(_trade(world)) for _ in range(4)))

    assert sum(counts) >= len(due)
    for order in due:
        assert await _state(world, order) == (OrderStatus.EXPIRED, ["PLACED", "EXPIRED"])
    for order in kept:
        assert await _state(world, order) == (OrderStatus.OPEN, ["PLACED"])
    assert await _held(world, variant) == len(kept)


async def _payment_arrives(world: World, order: int) -> list[int]:
    """The provider reports the order's payment as succeeded (as a webhook would)."""
    async with _trade(world).db.writer() as session, session.begin():
        payment = await session.scalar(select(Payment).where(Payment.order_id == order))
        assert payment is not None
        outcome = ProviderOutcome(
            provider=MANUAL,
            event_id=f"evt_{uuid.uuid4().hex}",
            kind="payment_intent.succeeded",
            succeeded=True,
            reference=f"pi_{uuid.uuid4().hex}",
            payment_id=payment.id,
            amount=payment.amount,
            currency=payment.currency,
        )
        return (await apply_provider_outcome(session, outcome)).refund_ids


async def _money(world: World, order: int) -> tuple[str, str, int, int]:
    async with _trade(world).db.reader() as session:
        row = await session.get(Order, order, populate_existing=True)
    assert row is not None
    return row.status.value, row.payment_status.value, row.paid_amount, row.refund_reserved


async def test_money_for_an_order_that_expired_is_set_to_be_refunded(world: World) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=2)
    order = await _checkout(world, variant, 2)
    await _as_card_order(world, order)
    await run_jobs_once(_trade(world))

    refunds = await _payment_arrives(world, order)

    assert len(refunds) == 1
    assert await _money(world, order) == ("EXPIRED", "PAID", 2495, 2495)
    assert (await _state(world, order))[1][-3:] == ["PAID", "PAID_AFTER_CLOSE", "REFUND_REQUESTED"]
    assert await _held(world, variant) == 0


if ON_POSTGRES:  # SQLite runs one writer at a time, so this interleaving cannot happen there

    async def test_money_arriving_while_the_order_expires_is_set_to_be_refunded(
        world: World, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """The hazard: deciding on ``order.status`` as loaded before mark_paid, an expiry
        committed in between still looks OPEN, and the money is kept for an EXPIRED order
        whose stock was already released."""
        await ship_to(world)
        variant = await stocked_variant(world, units=2)
        order = await _checkout(world, variant, 2)
        await _as_card_order(world, order)
        real_mark_paid = payment_outcomes.mark_paid

        async def expiry_lands_first(session: Any, row: Order, *, actor: str, manual: bool) -> bool:
            await expire_unpaid_orders(_trade(world))
            return await real_mark_paid(session, row, actor=actor, manual=manual)

        monkeypatch.setattr(payment_outcomes, "mark_paid", expiry_lands_first)
        await _payment_arrives(world, order)
        monkeypatch.undo()

        assert await _money(world, order) == ("EXPIRED", "PAID", 2495, 2495)
        assert await _held(world, variant) == 0
