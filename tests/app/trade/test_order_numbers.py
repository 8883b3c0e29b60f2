"""Order numbers: 1001, 1002, ... per shop, independent between shops, with no gap left by a
checkout that was refused (even inside its transaction) or replayed."""

from __future__ import annotations

import asyncio
import uuid

import pytest
from sqlalchemy import select

from app.errors import DomainError
from app.goods.inventory import AdjustmentReason, adjust_inventory
from app.goods.models import InventoryLevel
from app.trade import checkout
from app.trade.checkout import CheckoutRequest, complete_checkout
from app.trade.order_models import Order, PaymentMethod
from app.trade.services import TradeServices
from tests.support.factories import World
from tests.support.trade import ready_cart, ship_to, stocked_variant

pytestmark = pytest.mark.anyio


def _request(world: World, cart: int, key: str | None = None) -> CheckoutRequest:
    return CheckoutRequest(
        shop_id=world.shop.id,
        cart_id=cart,
        user_id=None,
        method=PaymentMethod.BANK_TRANSFER,
        key=key or uuid.uuid4().hex,
    )


async def _checkout(world: World, variant: int, quantity: int = 1) -> int:
    cart = await ready_cart(world, variant, quantity)
    return (await complete_checkout(world.services.trade, _request(world, cart))).order_id


async def _numbers(world: World) -> list[int]:
    async with world.services.db.reader() as session:
        rows = await session.scalars(
            select(Order.number).where(Order.shop_id == world.shop.id).order_by(Order.id)
        )
        return list(rows)


async def test_each_shop_counts_from_1001_on_its_own(world: World, other_world: World) -> None:
    for shop in (world, other_world):
        await ship_to(shop)
    mine = await stocked_variant(world)
    theirs = await stocked_variant(other_world)

    for shop, variant in [(world, mine), (other_world, theirs), (world, mine), (world, mine)]:
        await _checkout(shop, variant)

    assert await _numbers(world) == [1001, 1002, 1003]
    assert await _numbers(other_world) == [1001]


async def test_a_checkout_refused_inside_its_transaction_burns_no_number(
    world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=3)
    await _checkout(world, variant)
    refused_cart = await ready_cart(world, variant, 2)
    validate = checkout._validate

    async def validate_then_lose_the_stock(
        services: TradeServices, request: CheckoutRequest
    ) -> checkout._Plan:
        plan = await validate(services, request)
        # Between validation and the transaction, the last units are written off.
        await _sell_all(world, variant)
        return plan

    monkeypatch.setattr(checkout, "_validate", validate_then_lose_the_stock)
    with pytest.raises(DomainError) as refused:
        await complete_checkout(world.services.trade, _request(world, refused_cart))
    monkeypatch.undo()

    assert [p.code.value for p in refused.value.problems] == ["INSUFFICIENT_STOCK"]
    assert await _numbers(world) == [1001]
    await world.stock(variant, await world.warehouse(), 5)
    await _checkout(world, variant)
    assert await _numbers(world) == [1001, 1002]


async def _sell_all(world: World, variant: int) -> None:
    """Write off every free unit of ``variant`` (a stock correction)."""
    async with world.services.db.writer() as session, session.begin():
        levels = await session.scalars(
            select(InventoryLevel).where(InventoryLevel.variant_id == variant)
        )
        for level in levels:
            free = level.on_hand - level.reserved
            if free:
                await adjust_inventory(
                    session,
                    world.shop.id,
                    variant_id=variant,
                    warehouse_id=level.warehouse_id,
                    delta=-free,
                    reason=AdjustmentReason.CORRECTION,
                    actor="test",
                )


async def test_refused_and_replayed_checkouts_leave_no_gap(world: World) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=2)
    first = await ready_cart(world, variant)
    await complete_checkout(world.services.trade, _request(world, first, "once"))
    await complete_checkout(world.services.trade, _request(world, first, "once"))  # a replay
    too_big = await ready_cart(world, variant, 5)
    with pytest.raises(DomainError):
        await complete_checkout(world.services.trade, _request(world, too_big))

    await _checkout(world, variant)

    assert await _numbers(world) == [1001, 1002]


async def test_concurrent_checkouts_take_consecutive_numbers(
    world: World, other_world: World
) -> None:
    for shop in (world, other_world):
        await ship_to(shop)
    mine = await stocked_variant(world, units=4)
    theirs = await stocked_variant(other_world, units=20)
    carts = [(world, await ready_cart(world, mine)) for _ in range(10)]
    carts += [(other_world, await ready_cart(other_world, theirs)) for _ in range(10)]

    async def attempt(shop: World, cart: int) -> str:
        try:
            await complete_checkout(shop.services.trade, _request(shop, cart))
        except DomainError as refusal:
            return refusal.problems[0].code.value
        return "placed"

    outcomes = await asyncio.gather(*(attempt(shop, cart) for shop, cart in carts))

    assert outcomes[:10].count("placed") == 4  # only 4 units in the first shop
    assert set(outcomes[:10]) == {"placed", "INSUFFICIENT_STOCK"}
    assert sorted(await _numbers(world)) == [1001, 1002, 1003, 1004]
    assert sorted(await _numbers(other_world)) == list(range(1001, 1011))
