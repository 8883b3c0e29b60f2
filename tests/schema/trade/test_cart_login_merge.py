"""Signing in with the anonymous cart built before: it joins the shopper's own cart (or becomes
it), and nobody can take or read another shopper's cart this way."""

from __future__ import annotations

from typing import Any

import pytest

from app.trade.models import Cart
from tests.support.factories import World, gid, unique
from tests.support.graphql import GraphQLClient
from tests.support.trade import cart_gid, ready_cart, ship_to, stocked_variant

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"
LINES = "id lines { quantity variant { id } }"
LOGIN = f"""mutation($e: String!, $p: String!, $c: ID) {{ tokenCreate(email: $e, password: $p, cartId: $c) {{
  accessToken cart {{ {LINES} }} errors {{ code }} }} }}"""
CREATE = f"mutation($l: [CartLineInput!]) {{ cartCreate(lines: $l) {{ cart {{ {LINES} }} errors {{ code }} }} }}"
ADD = f"mutation($c: ID!, $l: [CartLineInput!]!) {{ cartLinesAdd(cartId: $c, lines: $l) {{ cart {{ {LINES} }} errors {{ code }} }} }}"
READ = f"query($c: ID!) {{ cart(id: $c) {{ {LINES} }} }}"
ME = f"{{ me {{ cart {{ {LINES} }} }} }}"


def _lines(variants: dict[int, int]) -> list[dict[str, Any]]:
    return [{"variantId": gid("ProductVariant", v), "quantity": q} for v, q in variants.items()]


def _quantities(cart: Any) -> dict[str, int]:
    return {line["variant"]["id"]: line["quantity"] for line in cart["lines"]}


async def _cart(
    gql: GraphQLClient, world: World, variants: dict[int, int], token: str | None = None
) -> str:
    payload = (await gql(CREATE, {"l": _lines(variants)}, shop=world.handle, token=token)).ok()
    assert payload["cartCreate"]["errors"] == []
    return str(payload["cartCreate"]["cart"]["id"])


async def _shopper(world: World) -> tuple[str, str]:
    """A shopper with a password: (email, token)."""
    email = f"{unique('shopper')}@example.com"
    _, token = await world.user("shopper", email=email)
    return email, token


async def _login(gql: GraphQLClient, world: World, email: str, cart: str | None) -> Any:
    variables = {"e": email, "p": PASSWORD, "c": cart}
    payload = (await gql(LOGIN, variables, shop=world.handle)).ok()["tokenCreate"]
    assert payload["errors"] == []
    assert payload["accessToken"]
    return payload


async def _read(gql: GraphQLClient, world: World, cart: str, token: str | None = None) -> Any:
    return (await gql(READ, {"c": cart}, shop=world.handle, token=token)).ok()["cart"]


async def _my_cart(gql: GraphQLClient, world: World, token: str) -> Any:
    return (await gql(ME, shop=world.handle, token=token)).ok()["me"]["cart"]


async def test_an_anonymous_cart_joins_the_shoppers_cart_at_login(
    world: World, gql: GraphQLClient
) -> None:
    shoes, socks = await stocked_variant(world), await stocked_variant(world)
    email, token = await _shopper(world)
    own = await _cart(gql, world, {shoes: 2}, token)
    anonymous = await _cart(gql, world, {shoes: 3, socks: 1})

    login = await _login(gql, world, email, anonymous)

    expected = {gid("ProductVariant", shoes): 5, gid("ProductVariant", socks): 1}
    assert login["cart"]["id"] == own
    assert _quantities(login["cart"]) == expected
    fresh = login["accessToken"]
    mine = await _my_cart(gql, world, fresh)
    assert (mine["id"], _quantities(mine)) == (own, expected)
    # The anonymous cart's ID now reaches nothing, for anyone.
    assert await _read(gql, world, anonymous) is None
    assert await _read(gql, world, anonymous, fresh) is None
    added = (
        await gql(ADD, {"c": anonymous, "l": _lines({socks: 1})}, shop=world.handle, token=fresh)
    ).ok()["cartLinesAdd"]
    assert [e["code"] for e in added["errors"]] == ["NOT_FOUND"]
    pk = world.services.cart_ids.decode(anonymous)
    async with world.services.db.reader() as session:
        assert await session.get(Cart, pk) is None


async def test_a_shopper_without_a_cart_adopts_the_anonymous_one(
    world: World, gql: GraphQLClient
) -> None:
    shoes = await stocked_variant(world)
    email, _ = await _shopper(world)
    anonymous = await _cart(gql, world, {shoes: 2})

    login = await _login(gql, world, email, anonymous)

    assert login["cart"]["id"] == anonymous
    assert _quantities(login["cart"]) == {gid("ProductVariant", shoes): 2}
    fresh = login["accessToken"]
    assert (await _my_cart(gql, world, fresh))["id"] == anonymous
    # Owned now: the ID alone no longer opens it.
    assert await _read(gql, world, anonymous) is None
    assert (await _read(gql, world, anonymous, fresh))["id"] == anonymous


async def test_another_shoppers_cart_can_be_neither_merged_nor_read(
    world: World, gql: GraphQLClient
) -> None:
    shoes = await stocked_variant(world)
    _, bob = await _shopper(world)
    bobs = await _cart(gql, world, {shoes: 4}, bob)
    ann_email, ann = await _shopper(world)

    login = await _login(gql, world, ann_email, bobs)

    assert login["cart"] is None  # the login itself still counts
    assert await _my_cart(gql, world, login["accessToken"]) is None
    assert await _read(gql, world, bobs, ann) is None
    assert await _read(gql, world, bobs) is None
    still = await _my_cart(gql, world, bob)
    assert (still["id"], _quantities(still)) == (bobs, {gid("ProductVariant", shoes): 4})


async def test_a_wrong_password_merges_nothing(world: World, gql: GraphQLClient) -> None:
    shoes = await stocked_variant(world)
    email, token = await _shopper(world)
    anonymous = await _cart(gql, world, {shoes: 1})

    refused = (
        await gql(LOGIN, {"e": email, "p": "wrong horse", "c": anonymous}, shop=world.handle)
    ).ok()["tokenCreate"]

    assert [e["code"] for e in refused["errors"]] == ["INVALID_CREDENTIALS"]
    assert refused["cart"] is None
    assert (await _read(gql, world, anonymous))["id"] == anonymous
    assert await _my_cart(gql, world, token) is None


async def test_merged_quantities_stop_at_the_line_maximum(world: World, gql: GraphQLClient) -> None:
    shoes = await stocked_variant(world)
    email, token = await _shopper(world)
    own = await _cart(gql, world, {shoes: 9_000}, token)
    anonymous = await _cart(gql, world, {shoes: 5_000})

    login = await _login(gql, world, email, anonymous)

    assert login["cart"]["id"] == own
    assert _quantities(login["cart"]) == {gid("ProductVariant", shoes): 10_000}


async def test_a_merge_never_makes_a_cart_of_more_than_100_lines(
    world: World, gql: GraphQLClient
) -> None:
    """The hazard: moving lines over without the cap add_lines enforces makes a cart of 120
    lines, on which every cartLinesAdd, even one more unit of a line, is TOO_MANY_LINES."""
    variants = [await stocked_variant(world) for _ in range(120)]
    email, token = await _shopper(world)
    own = await _cart(gql, world, dict.fromkeys(variants[:60], 1), token)
    anonymous = await _cart(gql, world, dict.fromkeys(variants[60:], 1))

    login = await _login(gql, world, email, anonymous)

    merged = login["cart"] or await _my_cart(gql, world, login["accessToken"])
    assert len(merged["lines"]) <= 100, f"{len(merged['lines'])} lines after the merge"
    # Nothing is lost either: what did not join the shopper's cart is still in the other one.
    left = await _read(gql, world, anonymous) or {"lines": []}
    kept = set(_quantities(merged)) | set(_quantities(left))
    assert kept == {gid("ProductVariant", v) for v in variants}
    # Whatever the merge did, the shopper can still change a line of their cart.
    more = (
        await gql(ADD, {"c": own, "l": _lines({variants[0]: 1})}, shop=world.handle, token=token)
    ).ok()["cartLinesAdd"]
    assert more["errors"] == []


async def test_details_the_shoppers_cart_lacks_come_from_the_anonymous_cart(
    world: World, gql: GraphQLClient
) -> None:
    await ship_to(world)
    shoes, socks = await stocked_variant(world), await stocked_variant(world)
    email, token = await _shopper(world)
    own = await _cart(gql, world, {shoes: 1}, token)
    anonymous = cart_gid(world, await ready_cart(world, socks, email="ann@example.com"))

    login = await _login(gql, world, email, anonymous)

    details = (
        "{ me { cart { id buyer { email } shippingAddress { city } shippingMethod { code } } } }"
    )
    mine = (await gql(details, shop=world.handle, token=login["accessToken"])).ok()["me"]["cart"]
    assert mine == {
        "id": own,
        "buyer": {"email": "ann@example.com"},
        "shippingAddress": {"city": "Berlin"},
        "shippingMethod": {"code": "standard"},
    }
