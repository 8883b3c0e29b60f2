"""Checkout and cart input that is refused: each refusal names its code and field, and writes
nothing (no order, no stock held, the cart as it was)."""

from __future__ import annotations

import base64
from typing import Any

import pytest
from sqlalchemy import func, select

from app.goods.models import InventoryLevel
from app.trade.order_models import Order
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.trade import cart_gid, ready_cart, ship_to, stocked_variant

pytestmark = pytest.mark.anyio

ERRORS = "errors { field code message }"
CART = f"cart {{ id checkedOut lines {{ id quantity }} availableShippingMethods {{ code }} availablePaymentMethods }} {ERRORS}"
CREATE = f"mutation($l: [CartLineInput!]) {{ cartCreate(lines: $l) {{ {CART} }} }}"
ADD = f"mutation($c: ID!, $l: [CartLineInput!]!) {{ cartLinesAdd(cartId: $c, lines: $l) {{ {CART} }} }}"
UPDATE = f"mutation($c: ID!, $l: [CartLineUpdateInput!]!) {{ cartLinesUpdate(cartId: $c, lines: $l) {{ {CART} }} }}"
REMOVE = (
    f"mutation($c: ID!, $l: [ID!]!) {{ cartLinesRemove(cartId: $c, lineIds: $l) {{ {CART} }} }}"
)
ADDRESS = f"mutation($c: ID!, $a: AddressInput!) {{ cartShippingAddressUpdate(cartId: $c, address: $a) {{ {CART} }} }}"
METHOD = f"mutation($c: ID!, $m: String!) {{ cartShippingMethodSelect(cartId: $c, code: $m) {{ {CART} }} }}"
READ = "query($c: ID!) { cart(id: $c) { id lines { quantity } } }"
LINE_IDS = "query($c: ID!) { cart(id: $c) { lines { id } } }"
METHODS = "query($c: ID!) { cart(id: $c) { availablePaymentMethods } }"
ADDRESS_READ = "query($c: ID!) { cart(id: $c) { id shippingAddress { city } } }"
COMPLETE = f"""mutation($c: ID!, $m: PaymentMethod!, $k: String!) {{
  checkoutComplete(cartId: $c, paymentMethod: $m, idempotencyKey: $k) {{
    order {{ id }} payment {{ method }} replayed {ERRORS} }} }}"""
BERLIN = {"name": "Ann", "street1": "Unter den Linden 1", "city": "Berlin", "countryCode": "DE"}


async def _written(world: World, variant: int) -> tuple[int, int]:
    """(the shop's orders, the units of ``variant`` held)."""
    async with world.services.db.reader() as session:
        orders = await session.scalar(
            select(func.count()).select_from(Order).where(Order.shop_id == world.shop.id)
        )
        held = await session.scalar(
            select(func.coalesce(func.sum(InventoryLevel.reserved), 0)).where(
                InventoryLevel.variant_id == variant
            )
        )
    return int(orders or 0), int(held or 0)


async def _cart(gql: GraphQLClient, world: World, variant: int, quantity: int = 1) -> Any:
    lines = [{"variantId": gid("ProductVariant", variant), "quantity": quantity}]
    payload = (await gql(CREATE, {"l": lines}, shop=world.handle)).ok()["cartCreate"]
    assert payload["errors"] == []
    return payload["cart"]


async def _complete(
    gql: GraphQLClient, world: World, cart_id: str, method: str = "BANK_TRANSFER", key: str = "k1"
) -> Any:
    return (await gql(COMPLETE, {"c": cart_id, "m": method, "k": key}, shop=world.handle)).ok()[
        "checkoutComplete"
    ]


def _refused(payload: Any) -> list[tuple[list[str] | None, str]]:
    assert payload["order"] is None and payload["payment"] is None, payload
    return [(e["field"], e["code"]) for e in payload["errors"]]


async def test_a_cart_without_an_address_is_refused(world: World, gql: GraphQLClient) -> None:
    await ship_to(world)
    variant = await stocked_variant(world)
    cart = await _cart(gql, world, variant)

    payload = await _complete(gql, world, cart["id"])

    assert _refused(payload) == [(["cartId"], "ADDRESS_REQUIRED")]
    assert await _written(world, variant) == (0, 0)


async def test_a_cart_without_a_shipping_method_is_refused(
    world: World, gql: GraphQLClient
) -> None:
    await ship_to(world)
    variant = await stocked_variant(world)
    cart = await _cart(gql, world, variant)
    addressed = (await gql(ADDRESS, {"c": cart["id"], "a": BERLIN}, shop=world.handle)).ok()
    assert addressed["cartShippingAddressUpdate"]["errors"] == []

    payload = await _complete(gql, world, cart["id"])

    assert _refused(payload) == [(["cartId"], "SHIPPING_METHOD_REQUIRED")]
    assert await _written(world, variant) == (0, 0)


async def test_an_emptied_cart_is_refused(world: World, gql: GraphQLClient) -> None:
    await ship_to(world)
    variant = await stocked_variant(world)
    cart_id = cart_gid(world, await ready_cart(world, variant))
    [line] = (await gql(LINE_IDS, {"c": cart_id}, shop=world.handle)).ok()["cart"]["lines"]
    removed = (await gql(REMOVE, {"c": cart_id, "l": [line["id"]]}, shop=world.handle)).ok()[
        "cartLinesRemove"
    ]
    assert removed["cart"]["lines"] == []

    payload = await _complete(gql, world, cart_id)

    assert _refused(payload) == [(["cartId"], "CART_EMPTY")]
    assert await _written(world, variant) == (0, 0)


async def test_stripe_is_refused_when_the_server_has_no_stripe_key(
    world: World, gql: GraphQLClient
) -> None:
    await ship_to(world)
    variant = await stocked_variant(world)
    cart_id = cart_gid(world, await ready_cart(world, variant))
    read = (await gql(METHODS, {"c": cart_id}, shop=world.handle)).ok()["cart"]
    assert "STRIPE" not in read["availablePaymentMethods"]  # the default test app

    payload = await _complete(gql, world, cart_id, method="STRIPE")

    assert _refused(payload) == [(["paymentMethod"], "PAYMENT_METHOD_UNAVAILABLE")]
    assert await _written(world, variant) == (0, 0)


@pytest.mark.parametrize("quantity", [0, -1, 10_001])
async def test_a_quantity_outside_1_to_10000_is_refused_on_add_and_update(
    world: World, gql: GraphQLClient, quantity: int
) -> None:
    variant = await stocked_variant(world)
    other = await stocked_variant(world)
    cart = await _cart(gql, world, variant, quantity=2)

    added = (
        await gql(
            ADD,
            {
                "c": cart["id"],
                "l": [{"variantId": gid("ProductVariant", other), "quantity": quantity}],
            },
            shop=world.handle,
        )
    ).ok()["cartLinesAdd"]
    updated = (
        await gql(
            UPDATE,
            {"c": cart["id"], "l": [{"id": cart["lines"][0]["id"], "quantity": quantity}]},
            shop=world.handle,
        )
    ).ok()["cartLinesUpdate"]

    for payload in (added, updated):
        assert payload["cart"] is None
        assert [(e["field"], e["code"]) for e in payload["errors"]] == [
            (["lines", "0", "quantity"], "INVALID_QUANTITY")
        ]
    after = (await gql(READ, {"c": cart["id"]}, shop=world.handle)).ok()["cart"]
    assert after["lines"] == [{"quantity": 2}]


async def test_another_shops_cart_and_a_forged_id_reach_nothing(
    world: World, other_world: World, gql: GraphQLClient
) -> None:
    await ship_to(other_world)
    theirs = await stocked_variant(other_world)
    foreign = cart_gid(other_world, await ready_cart(other_world, theirs))
    mine = await ready_cart(world, await stocked_variant(world))
    tag = base64.urlsafe_b64encode(f"Cart:{mine}:AAAAAAAAAAAAAAAAAAAAAA".encode()).decode()
    forged = tag.rstrip("=")
    untagged = gid("Cart", mine)

    for cart_id in (foreign, forged, untagged):
        payload = await _complete(gql, world, cart_id, key=f"k-{cart_id[:20]}")
        assert _refused(payload) == [(["cartId"], "NOT_FOUND")]
        assert (await gql(READ, {"c": cart_id}, shop=world.handle)).ok()["cart"] is None
        added = (
            await gql(
                ADD,
                {"c": cart_id, "l": [{"variantId": gid("ProductVariant", theirs), "quantity": 1}]},
                shop=world.handle,
            )
        ).ok()["cartLinesAdd"]
        assert [e["code"] for e in added["errors"]] == ["NOT_FOUND"]
    assert await _written(other_world, theirs) == (0, 0)
    assert (await _written(world, theirs))[0] == 0


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"countryCode": "Germany"}, ["address", "countryCode"]),
        ({"countryCode": "D1"}, ["address", "countryCode"]),
        ({"street1": "   "}, ["address", "street1"]),
    ],
)
async def test_a_bad_address_is_refused_field_by_field(
    world: World, gql: GraphQLClient, change: dict[str, str], field: list[str]
) -> None:
    variant = await stocked_variant(world)
    cart = await _cart(gql, world, variant)

    payload = (
        await gql(ADDRESS, {"c": cart["id"], "a": {**BERLIN, **change}}, shop=world.handle)
    ).ok()["cartShippingAddressUpdate"]

    assert payload["cart"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [(field, "INVALID")]
    assert (await gql(ADDRESS_READ, {"c": cart["id"]}, shop=world.handle)).ok()["cart"] == {
        "id": cart["id"],
        "shippingAddress": None,
    }


async def test_a_method_that_is_not_offered_cannot_be_chosen(
    world: World, gql: GraphQLClient
) -> None:
    await ship_to(world)
    variant = await stocked_variant(world)
    cart = await _cart(gql, world, variant)
    (await gql(ADDRESS, {"c": cart["id"], "a": BERLIN}, shop=world.handle)).ok()

    payload = (await gql(METHOD, {"c": cart["id"], "m": "overnight"}, shop=world.handle)).ok()[
        "cartShippingMethodSelect"
    ]

    assert payload["cart"] is None
    assert [(e["field"], e["code"]) for e in payload["errors"]] == [
        (["code"], "SHIPPING_METHOD_UNAVAILABLE")
    ]
    assert _refused(await _complete(gql, world, cart["id"])) == [
        (["cartId"], "SHIPPING_METHOD_REQUIRED")
    ]


async def test_an_address_outside_every_zone_gets_no_shipping_methods(
    world: World, gql: GraphQLClient
) -> None:
    await ship_to(world, ("DE", "NL"))
    variant = await stocked_variant(world)
    cart = await _cart(gql, world, variant)
    inside = (await gql(ADDRESS, {"c": cart["id"], "a": BERLIN}, shop=world.handle)).ok()
    assert inside["cartShippingAddressUpdate"]["cart"]["availableShippingMethods"] == [
        {"code": "standard"}
    ]

    outside = {**BERLIN, "city": "Boston", "region": "MA", "countryCode": "US"}
    payload = (await gql(ADDRESS, {"c": cart["id"], "a": outside}, shop=world.handle)).ok()

    assert payload["cartShippingAddressUpdate"]["errors"] == []
    assert payload["cartShippingAddressUpdate"]["cart"]["availableShippingMethods"] == []
    chosen = (await gql(METHOD, {"c": cart["id"], "m": "standard"}, shop=world.handle)).ok()
    assert [e["code"] for e in chosen["cartShippingMethodSelect"]["errors"]] == [
        "SHIPPING_METHOD_UNAVAILABLE"
    ]


async def test_an_idempotency_key_over_200_characters_is_refused(
    world: World, gql: GraphQLClient
) -> None:
    await ship_to(world)
    variant = await stocked_variant(world)
    cart_id = cart_gid(world, await ready_cart(world, variant))

    payload = await _complete(gql, world, cart_id, key="k" * 201)

    assert _refused(payload) == [(["idempotencyKey"], "INVALID")]
    assert await _written(world, variant) == (0, 0)
    # The cart is untouched: the same checkout with a fair key goes through.
    assert (await _complete(gql, world, cart_id, key="k" * 200))["order"] is not None


async def test_a_checkout_for_more_than_is_in_stock_names_what_is_left(
    world: World, gql: GraphQLClient
) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=3)
    cart_id = cart_gid(world, await ready_cart(world, variant, 5))

    payload = await _complete(gql, world, cart_id)

    [error] = payload["errors"]
    assert (error["code"], error["field"]) == ("INSUFFICIENT_STOCK", ["cartId", "lines", "0"])
    assert "Only 3 available" in error["message"]
    assert await _written(world, variant) == (0, 0)


async def test_stock_taken_by_another_order_is_reported_with_the_rest(
    world: World, gql: GraphQLClient
) -> None:
    await ship_to(world)
    variant = await stocked_variant(world, units=4)
    first = cart_gid(world, await ready_cart(world, variant, 3))
    second = cart_gid(world, await ready_cart(world, variant, 2))
    assert (await _complete(gql, world, first, key="first"))["order"] is not None

    payload = await _complete(gql, world, second, key="second")

    assert [e["code"] for e in payload["errors"]] == ["INSUFFICIENT_STOCK"]
    assert "Only 1 available" in payload["errors"][0]["message"]
    assert await _written(world, variant) == (1, 3)


async def test_another_shops_variant_cannot_be_added(
    world: World, other_world: World, gql: GraphQLClient
) -> None:
    variant = await stocked_variant(world)
    theirs = await stocked_variant(other_world)
    cart = await _cart(gql, world, variant)

    payload = (
        await gql(
            ADD,
            {"c": cart["id"], "l": [{"variantId": gid("ProductVariant", theirs), "quantity": 1}]},
            shop=world.handle,
        )
    ).ok()["cartLinesAdd"]

    assert [(e["field"], e["code"]) for e in payload["errors"]] == [
        (["lines", "0", "variantId"], "NOT_FOUND")
    ]
    assert (await gql(READ, {"c": cart["id"]}, shop=world.handle)).ok()["cart"]["lines"] == [
        {"quantity": 1}
    ]


async def test_a_method_chosen_before_the_address_moved_out_of_its_zone_is_refused(
    world: World, gql: GraphQLClient
) -> None:
    await ship_to(world, ("DE",))
    variant = await stocked_variant(world)
    cart_id = cart_gid(world, await ready_cart(world, variant))
    moved = {**BERLIN, "city": "Paris", "countryCode": "FR"}
    (await gql(ADDRESS, {"c": cart_id, "a": moved}, shop=world.handle)).ok()

    payload = await _complete(gql, world, cart_id)

    assert _refused(payload) == [(["cartId"], "SHIPPING_METHOD_UNAVAILABLE")]
    assert await _written(world, variant) == (0, 0)
