"""The back office's order list and who may read an order: keyset pages newest first, filters
that narrow, the buyer's own orders, and personal data clear only for those entitled to it."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import update

from app.trade.checkout import CheckoutRequest, complete_checkout
from app.trade.lifecycle import cancel_order, mark_order_paid
from app.trade.order_models import FulfillmentStatus, Order, PaymentMethod
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.trade import ready_cart, ship_to, stocked_variant

pytestmark = pytest.mark.anyio

LIST = """query($f: OrderFilter, $n: Int, $a: String) { orders(filter: $f, first: $n, after: $a) {
  edges { cursor node { number } } pageInfo { hasNextPage endCursor } } }"""
ONE = (
    """query($id: ID!) { order(id: $id) { number email phone shippingAddress { street1 city } } }"""
)
NODE = "query($id: ID!) { node(id: $id) { ... on Order { number } } }"
MINE = "{ me { orders { nodes { number } } } }"
ANN, BOB = "ann@example.com", "bob@example.com"


def _day(day: int) -> datetime:
    return datetime(2026, 1, day, 12, tzinfo=UTC)


async def _place(world: World, variant: int, email: str, user_id: int | None = None) -> int:
    cart = await ready_cart(world, variant, user_id=user_id, email=email)
    request = CheckoutRequest(
        shop_id=world.shop.id,
        cart_id=cart,
        user_id=user_id,
        method=PaymentMethod.BANK_TRANSFER,
        key=uuid.uuid4().hex,
    )
    return (await complete_checkout(world.services.trade, request)).order_id


@dataclass
class Shop:
    world: World
    token: str  # a business user's
    ids: dict[int, int]  # number -> order id


@pytest.fixture
async def shop(world: World) -> Shop:
    """#1001 Ann paid (Jan 1), #1002 Bob unpaid (Jan 2), #1003 Ann cancelled (Jan 3),
    #1004 Ann paid and fulfilled (Jan 4), #1005 Bob unpaid (Jan 5)."""
    await ship_to(world)
    variant = await stocked_variant(world, units=20)
    ids = {}
    for number, email in zip(range(1001, 1006), (ANN, BOB, ANN, ANN, BOB), strict=True):
        ids[number] = await _place(world, variant, email)
    async with world.services.db.writer() as session, session.begin():
        for number in (1001, 1004):
            await mark_order_paid(session, world.shop.id, ids[number], actor="test")
        await cancel_order(session, world.shop.id, ids[1003], actor="test", reason="", now=_day(3))
        await session.execute(
            update(Order)
            .where(Order.id == ids[1004])
            .values(fulfillment_status=FulfillmentStatus.FULFILLED)
        )
        for number, order_id in ids.items():
            await session.execute(
                update(Order).where(Order.id == order_id).values(created_at=_day(number - 1000))
            )
    return Shop(world, (await world.user("business"))[1], ids)


async def _numbers(gql: GraphQLClient, shop: Shop, spec: dict[str, Any] | None = None) -> Any:
    result = await gql(LIST, {"f": spec, "n": 20}, shop=shop.world.handle, token=shop.token)
    return [e["node"]["number"] for e in result.ok()["orders"]["edges"]]


async def test_orders_come_newest_first_in_keyset_pages(gql: GraphQLClient, shop: Shop) -> None:
    pages, after = [], None
    while True:
        result = await gql(LIST, {"n": 2, "a": after}, shop=shop.world.handle, token=shop.token)
        connection = result.ok()["orders"]
        pages.append([e["node"]["number"] for e in connection["edges"]])
        if not connection["pageInfo"]["hasNextPage"]:
            break
        after = connection["pageInfo"]["endCursor"]
        assert after == connection["edges"][-1]["cursor"]
        if len(pages) == 1:  # a new order arrives while paging: keyset pages do not shift
            await _place(shop.world, await stocked_variant(shop.world), ANN)
    assert pages == [[1005, 1004], [1003, 1002], [1001]]


async def test_orders_page_backwards_with_last_and_before(gql: GraphQLClient, shop: Shop) -> None:
    back = """query($b: String) { orders(last: 2, before: $b) {
      nodes { number } pageInfo { hasPreviousPage startCursor } } }"""
    pages, before = [], None
    while True:
        result = await gql(back, {"b": before}, shop=shop.world.handle, token=shop.token)
        connection = result.ok()["orders"]
        pages.append([n["number"] for n in connection["nodes"]])
        if not connection["pageInfo"]["hasPreviousPage"]:
            break
        before = connection["pageInfo"]["startCursor"]
    assert pages == [[1002, 1001], [1004, 1003], [1005]]


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ({"status": "CANCELLED"}, [1003]),
        ({"status": "OPEN"}, [1005, 1004, 1002, 1001]),
        ({"paymentStatus": "PAID"}, [1004, 1001]),
        ({"paymentStatus": "UNPAID"}, [1005, 1003, 1002]),
        ({"fulfillmentStatus": "FULFILLED"}, [1004]),
        ({"fulfillmentStatus": "UNFULFILLED"}, [1005, 1003, 1002, 1001]),
        ({"createdFrom": "2026-01-03T12:00:00Z"}, [1005, 1004, 1003]),
        ({"createdTo": "2026-01-03T12:00:00Z"}, [1002, 1001]),
        (
            {"createdFrom": "2026-01-02T00:00:00+01:00", "createdTo": "2026-01-04T00:00:00Z"},
            [1003, 1002],
        ),
        ({"query": "#1002"}, [1002]),
        ({"query": "1004"}, [1004]),
        ({"query": "#999"}, []),
        ({"query": "BOB@Example.COM"}, [1005, 1002]),
        ({"query": " ann@example.com "}, [1004, 1003, 1001]),
        ({"query": "nobody@example.com"}, []),
        ({"query": "Bob"}, []),
        ({"status": "OPEN", "paymentStatus": "PAID", "query": ANN}, [1004, 1001]),
    ],
)
async def test_each_filter_narrows_the_list(
    gql: GraphQLClient, shop: Shop, spec: dict[str, Any], expected: list[int]
) -> None:
    assert await _numbers(gql, shop) == [1005, 1004, 1003, 1002, 1001]
    assert await _numbers(gql, shop, spec) == expected


async def test_a_time_without_an_offset_is_refused(gql: GraphQLClient, shop: Shop) -> None:
    result = await gql(
        LIST,
        {"f": {"createdFrom": "2026-01-03T00:00:00"}},
        shop=shop.world.handle,
        token=shop.token,
    )
    assert result.codes == ["BAD_USER_INPUT"]
    assert result.data is None or result.data.get("orders") is None


@pytest.mark.parametrize("caller", ["anonymous", "shopper"])
async def test_only_the_shops_staff_list_orders(
    gql: GraphQLClient, shop: Shop, caller: str
) -> None:
    token = (await shop.world.user("shopper"))[1] if caller == "shopper" else None
    result = await gql(LIST, {"n": 5}, shop=shop.world.handle, token=token)
    assert result.codes == ["FORBIDDEN"]
    assert result.data is None or result.data.get("orders") is None


async def test_an_order_is_visible_to_staff_and_its_buyer_only(
    gql: GraphQLClient, shop: Shop, other_world: World
) -> None:
    world = shop.world
    buyer_id, buyer = await world.user("shopper")
    _, stranger = await world.user("shopper")
    _, elsewhere = await other_world.user("business")
    variant = await stocked_variant(world)
    order = gid("Order", await _place(world, variant, ANN, user_id=buyer_id))

    seen = {}
    for name, token in [
        ("business", shop.token),
        ("buyer", buyer),
        ("stranger", stranger),
        ("anonymous", None),
        ("business elsewhere", elsewhere),
    ]:
        one = (await gql(ONE, {"id": order}, shop=world.handle, token=token)).ok()["order"]
        node = (await gql(NODE, {"id": order}, shop=world.handle, token=token)).ok()["node"]
        assert (node or {}).get("number") == (one or {}).get("number"), name
        seen[name] = one is not None
    assert seen == {
        "business": True,
        "buyer": True,
        "stranger": False,
        "anonymous": False,
        "business elsewhere": False,
    }
    # Named with another shop's handle, the ID reaches nothing either.
    other = await gql(ONE, {"id": order}, shop=other_world.handle, token=elsewhere)
    assert other.ok()["order"] is None


async def test_me_orders_lists_the_callers_own_orders_only(gql: GraphQLClient, shop: Shop) -> None:
    world = shop.world
    ann_id, ann = await world.user("shopper")
    bob_id, bob = await world.user("shopper")
    variant = await stocked_variant(world)
    mine = [await _place(world, variant, ANN, user_id=ann_id) for _ in range(2)]
    await _place(world, variant, BOB, user_id=bob_id)

    ann_sees = (await gql(MINE, shop=world.handle, token=ann)).ok()["me"]["orders"]["nodes"]
    bob_sees = (await gql(MINE, shop=world.handle, token=bob)).ok()["me"]["orders"]["nodes"]

    assert [n["number"] for n in ann_sees] == [1007, 1006]
    assert [n["number"] for n in bob_sees] == [1008]
    assert len(mine) == 2
    assert (await gql(MINE, shop=world.handle)).ok()["me"] is None


async def test_personal_data_is_clear_for_staff_and_the_buyer_and_masked_for_an_app(
    gql: GraphQLClient, shop: Shop
) -> None:
    world = shop.world
    buyer_id, buyer = await world.user("shopper")
    variant = await stocked_variant(world)
    order = gid("Order", await _place(world, variant, ANN, user_id=buyer_id))
    app_without_pii = world.services.tokens.issue(
        "app:agc_orders", scope="trade:read", extra={"shop": world.shop.id}
    )

    def read(token: str | None) -> Any:
        return gql(ONE, {"id": order}, shop=world.handle, token=token)

    clear = {
        "number": 1006,
        "email": ANN,
        "phone": "+49 30 1234567",
        "shippingAddress": {"street1": "Unter den Linden 1", "city": "Berlin"},
    }
    assert (await read(shop.token)).ok()["order"] == clear
    assert (await read(buyer)).ok()["order"] == clear
    assert (await read(app_without_pii)).ok()["order"] == {
        "number": 1006,
        "email": "a***@example.com",
        "phone": "+493****4567",
        "shippingAddress": {"street1": "***", "city": "Berlin"},
    }
    assert (await read(None)).ok()["order"] is None


@pytest.mark.parametrize("text", ["#2147483648", "99999999999", "#999999999999999999"])
async def test_a_number_beyond_any_order_finds_nothing(
    gql: GraphQLClient, shop: Shop, text: str
) -> None:
    """orders.number is an INTEGER column: on PostgreSQL a number of 2**31 or more cannot even
    be bound ("value out of int32 range"), and must not turn the list into INTERNAL."""
    assert await _numbers(gql, shop, {"query": text}) == []


async def test_paging_limits_and_forged_cursors_are_refused(gql: GraphQLClient, shop: Shop) -> None:
    too_big = await gql(LIST, {"n": 101}, shop=shop.world.handle, token=shop.token)
    forged = await gql(
        LIST, {"n": 2, "a": "not-a-cursor"}, shop=shop.world.handle, token=shop.token
    )
    assert too_big.codes == ["PAGE_SIZE_EXCEEDED"]
    assert forged.codes == ["INVALID_CURSOR"]
