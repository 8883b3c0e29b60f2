"""Carts through HTTP, as a storefront sends them: anonymous, reached by their signed ID."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from app.goods.models import ProductStatus, Variant
from app.trade.models import Cart, CartLine
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.sql import StatementCounter

pytestmark = pytest.mark.anyio

CART = """cart { id lines { id quantity variant { sku } cost { unitPrice { amount } subtotal { amount } } }
  cost { subtotal { amount currencyCode } total { amount } }
  warnings { code lineId available } }"""
CREATE = f"mutation($lines: [CartLineInput!]) {{ cartCreate(lines: $lines) {{ {CART} errors {{ field code }} }} }}"
ADD = f"mutation($t: ID!, $lines: [CartLineInput!]!) {{ cartLinesAdd(cartId: $t, lines: $lines) {{ {CART} errors {{ field code }} }} }}"
UPDATE = f"mutation($t: ID!, $lines: [CartLineUpdateInput!]!) {{ cartLinesUpdate(cartId: $t, lines: $lines) {{ {CART} errors {{ field code }} }} }}"
REMOVE = f"mutation($t: ID!, $ids: [ID!]!) {{ cartLinesRemove(cartId: $t, lineIds: $ids) {{ {CART} errors {{ field code }} }} }}"
READ = f"query($t: ID!) {{ {CART} }}".replace("{ cart {", "{ cart(id: $t) {", 1)


async def _variants(world: World, *prices: str, stock: int = 10) -> list[int]:
    product = await world.product(prices=prices)
    warehouse = await world.warehouse()
    async with world.services.db.reader() as session:
        ids = list(
            await session.scalars(
                select(Variant.id).where(Variant.product_id == product).order_by(Variant.id)
            )
        )
    for variant in ids:
        await world.stock(variant, warehouse, stock)
    return ids


async def _lines_in_db(world: World) -> int:
    async with world.services.db.reader() as session:
        return int(
            await session.scalar(
                select(func.count())
                .select_from(CartLine)
                .join(Cart)
                .where(Cart.shop_id == world.shop.id)
            )
            or 0
        )


async def test_an_anonymous_shopper_builds_a_cart(world: World, gql: GraphQLClient) -> None:
    first, second = await _variants(world, "12.50", "3.00")
    created = (
        await gql(
            CREATE,
            {"lines": [{"variantId": gid("ProductVariant", first), "quantity": 2}]},
            shop=world.handle,
        )
    ).ok()["cartCreate"]
    assert created["errors"] == []
    token = created["cart"]["id"]
    assert created["cart"]["cost"]["subtotal"] == {"amount": "25.00", "currencyCode": "EUR"}

    added = (
        await gql(
            ADD,
            {
                "t": token,
                "lines": [
                    {"variantId": gid("ProductVariant", first)},
                    {"variantId": gid("ProductVariant", second), "quantity": 3},
                ],
            },
            shop=world.handle,
        )
    ).ok()["cartLinesAdd"]
    assert [
        (line["variant"]["sku"] is not None, line["quantity"]) for line in added["cart"]["lines"]
    ] == [(True, 3), (True, 3)]
    assert added["cart"]["cost"]["subtotal"]["amount"] == "46.50"

    line = added["cart"]["lines"][1]["id"]
    updated = (
        await gql(UPDATE, {"t": token, "lines": [{"id": line, "quantity": 1}]}, shop=world.handle)
    ).ok()["cartLinesUpdate"]
    assert updated["cart"]["cost"]["total"]["amount"] == "40.50"

    removed = (await gql(REMOVE, {"t": token, "ids": [line]}, shop=world.handle)).ok()[
        "cartLinesRemove"
    ]
    assert [x["quantity"] for x in removed["cart"]["lines"]] == [3]
    read = (await gql(READ, {"t": token}, shop=world.handle)).ok()["cart"]
    assert read == removed["cart"]


@pytest.mark.parametrize("quantity", [0, -1, 10_001])
async def test_a_quantity_out_of_range_is_refused_and_nothing_is_written(
    world: World, gql: GraphQLClient, quantity: int
) -> None:
    [variant] = await _variants(world, "1.00")
    result = (
        await gql(
            CREATE,
            {"lines": [{"variantId": gid("ProductVariant", variant), "quantity": quantity}]},
            shop=world.handle,
        )
    ).ok()["cartCreate"]
    assert result["cart"] is None
    assert result["errors"] == [{"field": ["lines", "0", "quantity"], "code": "INVALID_QUANTITY"}]
    assert await _lines_in_db(world) == 0


async def test_lines_never_exceed_the_maximum_by_adding_twice(
    world: World, gql: GraphQLClient
) -> None:
    [variant] = await _variants(world, "1.00")
    token = (
        await gql(
            CREATE,
            {"lines": [{"variantId": gid("ProductVariant", variant), "quantity": 9000}]},
            shop=world.handle,
        )
    ).ok()["cartCreate"]["cart"]["id"]
    result = (
        await gql(
            ADD,
            {
                "t": token,
                "lines": [{"variantId": gid("ProductVariant", variant), "quantity": 1001}],
            },
            shop=world.handle,
        )
    ).ok()["cartLinesAdd"]
    assert [e["code"] for e in result["errors"]] == ["INVALID_QUANTITY"]
    assert (await gql(READ, {"t": token}, shop=world.handle)).ok()["cart"]["lines"][0][
        "quantity"
    ] == 9000


async def test_a_foreign_forged_or_made_up_cart_id_is_not_found(
    world: World, other_world: World, gql: GraphQLClient
) -> None:
    [variant] = await _variants(world, "1.00")
    token = (await gql(CREATE, {}, shop=world.handle)).ok()["cartCreate"]["cart"]["id"]
    forged = gid("Cart", 1)  # a well-formed ID without the server's tag
    for shop, given in (
        (other_world.handle, token),
        (world.handle, "made-up-token"),
        (world.handle, forged),
    ):
        result = (
            await gql(
                ADD,
                {"t": given, "lines": [{"variantId": gid("ProductVariant", variant)}]},
                shop=shop,
            )
        ).ok()["cartLinesAdd"]
        assert result == {"cart": None, "errors": [{"field": ["cartId"], "code": "NOT_FOUND"}]}
        assert (await gql(READ, {"t": given}, shop=shop)).ok() == {"cart": None}


async def test_unknown_or_unpublished_variants_cannot_be_added(
    world: World, gql: GraphQLClient
) -> None:
    draft = await world.product(status=ProductStatus.DRAFT)
    async with world.services.db.reader() as session:
        hidden = await session.scalar(select(Variant.id).where(Variant.product_id == draft))
    for wrong in (
        gid("ProductVariant", hidden),
        gid("ProductVariant", 10**12),
        gid("Product", draft),
    ):
        result = (await gql(CREATE, {"lines": [{"variantId": wrong}]}, shop=world.handle)).ok()[
            "cartCreate"
        ]
        assert result["errors"] == [{"field": ["lines", "0", "variantId"], "code": "NOT_FOUND"}]
        assert result["cart"] is None
    assert await _lines_in_db(world) == 0


async def test_the_cart_warns_about_stock_price_and_withdrawn_products(
    world: World, gql: GraphQLClient
) -> None:
    [variant] = await _variants(world, "10.00", stock=4)
    created = (
        await gql(
            CREATE,
            {"lines": [{"variantId": gid("ProductVariant", variant), "quantity": 6}]},
            shop=world.handle,
        )
    ).ok()["cartCreate"]
    line = created["cart"]["lines"][0]["id"]
    assert created["cart"]["warnings"] == [
        {"code": "INSUFFICIENT_STOCK", "lineId": line, "available": 4}
    ]

    async with world.services.db.writer() as session, session.begin():
        row = await session.get(Variant, variant)
        assert row is not None
        row.price_amount = 1100
    cart = (await gql(READ, {"t": created["cart"]["id"]}, shop=world.handle)).ok()["cart"]
    assert {w["code"] for w in cart["warnings"]} == {"INSUFFICIENT_STOCK", "PRICE_CHANGED"}
    assert cart["cost"]["subtotal"]["amount"] == "66.00"

    async with world.services.db.reader() as session:
        product = await session.scalar(select(Variant.product_id).where(Variant.id == variant))
    _, staff = await world.user("business")
    await gql(
        "mutation($id: ID!) { productArchive(id: $id) { errors { code } } }",
        {"id": gid("Product", product)},
        shop=world.handle,
        token=staff,
    )
    cart = (await gql(READ, {"t": created["cart"]["id"]}, shop=world.handle)).ok()["cart"]
    assert [w["code"] for w in cart["warnings"]] == ["UNAVAILABLE"]
    assert cart["lines"][0]["variant"] is None
    assert cart["cost"]["subtotal"]["amount"] == "0.00"


async def test_reading_a_cart_costs_the_same_statements_for_any_number_of_lines(
    world: World, gql: GraphQLClient, statements: StatementCounter
) -> None:
    variants = await _variants(world, *[f"{n}.00" for n in range(1, 9)])
    counts = {}
    for size in (1, 8):
        token = (
            await gql(
                CREATE,
                {"lines": [{"variantId": gid("ProductVariant", v)} for v in variants[:size]]},
                shop=world.handle,
            )
        ).ok()["cartCreate"]["cart"]["id"]
        statements.reset()
        assert len((await gql(READ, {"t": token}, shop=world.handle)).ok()["cart"]["lines"]) == size
        counts[size] = statements.count
    assert counts[1] == counts[8] <= 3, counts
