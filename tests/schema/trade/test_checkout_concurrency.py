"""Checkout under pressure, through HTTP: many buyers for the last units never oversell, and an
idempotency key gives one order however often, and however concurrently, it is sent.

Concurrent buyers each come from their own address (their own ASGI client): the edge caps one
principal (or one IP) at 16 requests in flight, so 200 requests from one client would mostly be
throttled before reaching checkout, which is not what this story is about.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from app.goods.inventory import AdjustmentReason, adjust_inventory
from app.goods.models import InventoryLevel
from app.trade import carts, checkout
from app.trade.checkout import CheckoutRequest
from app.trade.models import Cart
from app.trade.order_models import Order, OrderAllocation, OrderLine
from app.trade.services import TradeServices
from schema.node import parse_id
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient, GraphQLResult
from tests.support.trade import cart_gid, ready_cart, ship_to, stocked_variant

pytestmark = pytest.mark.anyio

COMPLETE = """mutation($c: ID!, $m: PaymentMethod!, $k: String!) {
  checkoutComplete(cartId: $c, paymentMethod: $m, idempotencyKey: $k) {
    order { id number paymentMethod email } replayed errors { field code message } } }"""
ADD = """mutation($c: ID!, $l: [CartLineInput!]!) { cartLinesAdd(cartId: $c, lines: $l) {
  cart { id } errors { field code } } }"""
ADDRESS = """mutation($c: ID!, $a: AddressInput!) { cartShippingAddressUpdate(cartId: $c, address: $a) {
  cart { id } errors { field code } } }"""
CHECKED_OUT = "query($c: ID!) { cart(id: $c) { checkedOut } }"
BUYERS = 200
UNITS = (30, 20)


@asynccontextmanager
async def _buyers(app: Starlette, count: int) -> AsyncIterator[list[GraphQLClient]]:
    """``count`` storefront clients, each with an address of its own."""
    async with AsyncExitStack() as stack:
        clients = []
        for index in range(count):
            transport = httpx.ASGITransport(app=app, client=(f"198.51.100.{index}", 40_000))
            http = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url="http://testserver")
            )
            clients.append(GraphQLClient(http))
        yield clients


async def _orders(world: World) -> list[Order]:
    async with world.services.db.reader() as session:
        return list(await session.scalars(select(Order).where(Order.shop_id == world.shop.id)))


async def _levels(world: World, variant: int) -> list[tuple[int, int]]:
    async with world.services.db.reader() as session:
        rows = await session.execute(
            select(InventoryLevel.on_hand, InventoryLevel.reserved).where(
                InventoryLevel.variant_id == variant
            )
        )
        return [(on_hand, reserved) for on_hand, reserved in rows]


async def _complete(
    gql: GraphQLClient, world: World, cart: str, key: str, method: str = "BANK_TRANSFER"
) -> Any:
    result = await gql(COMPLETE, {"c": cart, "m": method, "k": key}, shop=world.handle)
    return result.ok()["checkoutComplete"]


def _pk(global_id: str) -> int:
    parsed = parse_id(global_id)
    assert parsed is not None and parsed[0] == "Order", global_id
    return parsed[1]


async def _complete_as(
    gql: GraphQLClient, world: World, cart: str, key: str, token: str | None
) -> Any:
    result = await gql(
        COMPLETE, {"c": cart, "m": "BANK_TRANSFER", "k": key}, shop=world.handle, token=token
    )
    return result.ok()["checkoutComplete"]


async def _write_off(world: World, variant: int) -> None:
    """Every free unit of ``variant`` written off (a stock correction)."""
    async with world.services.db.writer() as session, session.begin():
        levels = await session.scalars(
            select(InventoryLevel).where(InventoryLevel.variant_id == variant)
        )
        for level in levels:
            await adjust_inventory(
                session,
                world.shop.id,
                variant_id=variant,
                warehouse_id=level.warehouse_id,
                delta=level.reserved - level.on_hand,
                reason=AdjustmentReason.CORRECTION,
                actor="test",
            )


def _line(variant: int) -> list[dict[str, Any]]:
    return [{"variantId": gid("ProductVariant", variant), "quantity": 1}]


async def test_two_hundred_buyers_of_fifty_units_make_exactly_fifty_orders(
    app: Starlette, world: World
) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=UNITS[0])
    await world.stock(variant, await world.warehouse(), UNITS[1])
    carts = [cart_gid(world, await ready_cart(world, variant)) for _ in range(BUYERS)]

    async with _buyers(app, BUYERS) as clients:
        started = time.monotonic()
        results: list[GraphQLResult] = await asyncio.gather(
            *(
                client(
                    COMPLETE,
                    {"c": cart, "m": "BANK_TRANSFER", "k": f"buyer-{index}"},
                    shop=world.handle,
                )
                for index, (client, cart) in enumerate(zip(clients, carts, strict=True))
            )
        )
        elapsed = time.monotonic() - started

    bodies = [json.dumps(r.body) for r in results]
    assert not [b for b in bodies if "database is locked" in b.lower()]
    assert {r.status for r in results} == {200}
    assert [r.errors for r in results if r.errors] == []
    payloads = [r.data["checkoutComplete"] for r in results]
    placed = [p for p in payloads if p["order"] is not None]
    refused = [p for p in payloads if p["order"] is None]
    assert len(placed) == sum(UNITS)
    assert all(p["errors"] == [] for p in placed)
    assert {tuple(e["code"] for e in p["errors"]) for p in refused} == {("INSUFFICIENT_STOCK",)}
    # Rows, not just answers: 50 orders holding 50 units, split over both warehouses.
    orders = await _orders(world)
    assert len(orders) == sum(UNITS)
    assert {o.id for o in orders} == {_pk(p["order"]["id"]) for p in placed}
    levels = await _levels(world, variant)
    assert sorted(levels) == sorted((units, units) for units in UNITS)
    assert all(on_hand - reserved >= 0 and reserved >= 0 for on_hand, reserved in levels)
    async with world.services.db.reader() as session:
        allocated = await session.scalar(
            select(func.sum(OrderAllocation.quantity))
            .join(OrderLine, OrderLine.id == OrderAllocation.line_id)
            .join(Order, Order.id == OrderLine.order_id)
            .where(Order.shop_id == world.shop.id)
        )
    assert allocated == sum(UNITS)
    # Refusals inside the checkout transaction burn no order numbers.
    assert sorted(o.number for o in orders) == list(range(1001, 1001 + sum(UNITS)))
    assert elapsed < 60, f"200 concurrent checkouts took {elapsed:.1f} s"


async def test_the_same_key_twice_gives_one_order(world: World, gql: GraphQLClient) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=5)
    cart = cart_gid(world, await ready_cart(world, variant, 2))

    first = await _complete(gql, world, cart, "again")
    second = await _complete(gql, world, cart, "again")

    assert (first["replayed"], second["replayed"]) == (False, True)
    assert first["order"] == second["order"]
    assert first["errors"] == second["errors"] == []
    assert len(await _orders(world)) == 1
    assert await _levels(world, variant) == [(5, 2)]


async def test_the_same_key_sent_five_times_at_once_gives_one_order(
    world: World, gql: GraphQLClient
) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=5)
    cart = cart_gid(world, await ready_cart(world, variant, 2))

    payloads = await asyncio.gather(
        *(_complete(gql, world, cart, "double-click") for _ in range(5))
    )

    assert all(p["errors"] == [] for p in payloads), payloads
    assert len({p["order"]["id"] for p in payloads}) == 1
    assert sorted(p["replayed"] for p in payloads) == [False, True, True, True, True]
    assert len(await _orders(world)) == 1
    assert await _levels(world, variant) == [(5, 2)]


async def test_one_cart_sent_with_five_fresh_keys_at_once_becomes_one_order(
    world: World, gql: GraphQLClient
) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=5)
    cart = cart_gid(world, await ready_cart(world, variant, 2))

    payloads = await asyncio.gather(*(_complete(gql, world, cart, f"key-{i}") for i in range(5)))

    placed = [p for p in payloads if p["order"] is not None]
    assert len(placed) == 1
    refusals = {e["code"] for p in payloads if p["order"] is None for e in p["errors"]}
    assert refusals <= {"CART_COMPLETED", "CART_CHANGED"}, refusals
    assert len(await _orders(world)) == 1
    assert await _levels(world, variant) == [(5, 2)]


async def test_the_same_key_with_another_cart_is_a_conflict_and_writes_nothing(
    world: World, gql: GraphQLClient
) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=5)
    first = cart_gid(world, await ready_cart(world, variant, 1))
    second = cart_gid(world, await ready_cart(world, variant, 2))
    await _complete(gql, world, first, "shared")

    payload = await _complete(gql, world, second, "shared")

    assert payload["order"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [
        (["idempotencyKey"], "IDEMPOTENCY_CONFLICT")
    ]
    assert len(await _orders(world)) == 1
    assert await _levels(world, variant) == [(5, 1)]
    read = (await gql(CHECKED_OUT, {"c": second}, shop=world.handle)).ok()
    assert read["cart"]["checkedOut"] is False


async def test_the_same_key_with_another_payment_method_is_a_conflict(
    world: World, gql: GraphQLClient
) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=5)
    cart = cart_gid(world, await ready_cart(world, variant, 1))
    placed = await _complete(gql, world, cart, "method")

    payload = await _complete(gql, world, cart, "method", method="CASH_ON_DELIVERY")

    assert payload["order"] is None
    assert [e["code"] for e in payload["errors"]] == ["IDEMPOTENCY_CONFLICT"]
    assert [o.payment_method.value for o in await _orders(world)] == ["BANK_TRANSFER"]
    assert placed["order"]["paymentMethod"] == "BANK_TRANSFER"


async def test_a_completed_cart_is_not_checked_out_again_with_a_new_key(
    world: World, gql: GraphQLClient
) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=5)
    cart = cart_gid(world, await ready_cart(world, variant, 1))
    await _complete(gql, world, cart, "first")

    payload = await _complete(gql, world, cart, "second")

    assert payload["order"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(["cartId"], "CART_COMPLETED")]
    assert len(await _orders(world)) == 1
    assert await _levels(world, variant) == [(5, 1)]


async def test_a_completed_cart_cannot_be_changed(world: World, gql: GraphQLClient) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=5)
    cart = cart_gid(world, await ready_cart(world, variant, 1))
    await _complete(gql, world, cart, "done")

    added = (
        await gql(
            ADD,
            {"c": cart, "l": [{"variantId": gid("ProductVariant", variant), "quantity": 1}]},
            shop=world.handle,
        )
    ).ok()["cartLinesAdd"]
    moved = (
        await gql(
            ADDRESS,
            {"c": cart, "a": {"name": "X", "street1": "Y 1", "city": "Paris", "countryCode": "FR"}},
            shop=world.handle,
        )
    ).ok()["cartShippingAddressUpdate"]

    for payload in (added, moved):
        assert payload["cart"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [
            (["cartId"], "CART_COMPLETED")
        ]
    [order] = await _orders(world)
    assert order.subtotal == 1000
    assert order.shipping_address["city"] == "Berlin"


async def test_replaying_a_shoppers_checkout_needs_the_shopper(
    world: World, gql: GraphQLClient
) -> None:
    """The hazard: a replay answered from the stored result without loading the cart would
    show whoever holds an owned cart's ID and the key the order, as its buyer (email, phone
    and street in clear), though that cart and order are NOT_FOUND/null for them elsewhere."""
    await ship_to(world)
    variant = await stocked_variant(world, units=5)
    owner_id, owner = await world.user("shopper")
    _, stranger = await world.user("shopper")
    cart = cart_gid(world, await ready_cart(world, variant, 1, user_id=owner_id))
    placed = (
        await gql(
            COMPLETE, {"c": cart, "m": "BANK_TRANSFER", "k": "mine"}, shop=world.handle, token=owner
        )
    ).ok()["checkoutComplete"]
    assert placed["order"] is not None

    for token in (None, stranger):
        replay = await _complete_as(gql, world, cart, "mine", token)
        assert replay["order"] is None, replay["order"]
        assert [e["code"] for e in replay["errors"]] == ["NOT_FOUND"]
    again = await _complete_as(gql, world, cart, "mine", owner)
    assert (again["order"]["id"], again["replayed"]) == (placed["order"]["id"], True)


@pytest.mark.parametrize("meanwhile", ["cart changed", "second line sold out"])
async def test_what_changes_between_pricing_and_placing_refuses_the_checkout_whole(
    world: World, gql: GraphQLClient, monkeypatch: pytest.MonkeyPatch, meanwhile: str
) -> None:
    await ship_to(world)
    first, second = await stocked_variant(world, units=5), await stocked_variant(world, units=5)
    pk = await ready_cart(world, first, 2)
    async with world.services.db.writer() as session, session.begin():
        row = await session.get(Cart, pk)
        assert row is not None
        await carts.add_lines(session, row, [carts.LineRequest(second, 1)])
    validate = checkout._validate

    async def then_meanwhile(services: TradeServices, request: CheckoutRequest) -> Any:
        plan = await validate(services, request)
        if meanwhile == "cart changed":
            (await gql(ADD, {"c": cart_gid(world, pk), "l": _line(second)}, shop=world.handle)).ok()
        else:
            await _write_off(world, second)
        return plan

    monkeypatch.setattr(checkout, "_validate", then_meanwhile)
    payload = await _complete(gql, world, cart_gid(world, pk), "racy")
    monkeypatch.undo()

    expected = "CART_CHANGED" if meanwhile == "cart changed" else "INSUFFICIENT_STOCK"
    assert payload["order"] is None
    assert [e["code"] for e in payload["errors"]] == [expected]
    assert await _orders(world) == []
    assert await _levels(world, first) == [(5, 0)]  # the first line holds nothing either
    read = (await gql(CHECKED_OUT, {"c": cart_gid(world, pk)}, shop=world.handle)).ok()
    assert read["cart"]["checkedOut"] is False
