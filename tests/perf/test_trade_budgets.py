"""SQL-statement budgets for trade reads: a page of orders with its lines, variants, products and
payments, and a cart with shipping, cost a fixed number of statements whatever their size."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from app.goods.models import Variant
from app.trade import carts
from app.trade.checkout import CheckoutRequest, complete_checkout
from app.trade.models import Cart
from app.trade.order_models import PaymentMethod
from tests.support.factories import World
from tests.support.graphql import GraphQLClient
from tests.support.sql import StatementCounter
from tests.support.trade import cart_gid, ready_cart, ship_to

pytestmark = pytest.mark.anyio

ORDERS_QUERY = """
query Budget($first: Int!) {
  orders(first: $first) {
    nodes { number lines { quantity variant { sku product { title } } } payments { status } }
  }
}
"""
# The caller's role assignments (Casbin, per request), the page of orders, their lines, their
# payments, the variants with stock, their products.
ORDERS_BUDGET = 6
CART_QUERY = """
query Cart($id: ID!) {
  cart(id: $id) {
    lines { quantity variant { sku quantityAvailable product { title } } cost { subtotal { amount } } }
    cost { subtotal { amount } shipping { amount } total { amount } }
    shippingMethod { code price { amount } } availableShippingMethods { code }
    warnings { code } buyer { email } shippingAddress { city street1 } checkedOut
  }
}
"""
# The cart, its lines, the variants with stock, their products, the shop's zones and rates.
CART_BUDGET = 5


async def _variants(world: World, count: int, units: int = 5) -> list[int]:
    """``count`` products of one variant each, in stock in one warehouse."""
    warehouse = await world.warehouse()
    variants = []
    for index in range(count):
        product = await world.product(f"Thing {index}")
        async with world.services.db.reader() as session:
            variant = await session.scalar(select(Variant.id).where(Variant.product_id == product))
        assert variant is not None
        await world.stock(variant, warehouse, units)
        variants.append(int(variant))
    return variants


async def test_a_page_of_orders_costs_the_same_statements_for_10_and_50(
    world: World, gql: GraphQLClient, statements: StatementCounter
) -> None:
    await ship_to(world)
    for variant in await _variants(world, 50):
        cart = await ready_cart(world, variant, 2)
        await complete_checkout(
            world.services.trade,
            CheckoutRequest(
                world.shop.id, cart, None, PaymentMethod.BANK_TRANSFER, uuid.uuid4().hex
            ),
        )
    _, token = await world.user("business")
    (await gql(ORDERS_QUERY, {"first": 1}, shop=world.handle, token=token)).ok()  # warm caches
    counts = {}
    for first in (10, 50):
        statements.reset()
        data = (await gql(ORDERS_QUERY, {"first": first}, shop=world.handle, token=token)).ok()
        nodes = data["orders"]["nodes"]
        assert len(nodes) == first
        assert all(len(n["lines"]) == 1 and n["lines"][0]["quantity"] == 2 for n in nodes)
        assert len({n["lines"][0]["variant"]["product"]["title"] for n in nodes}) == first
        assert all(n["payments"] == [{"status": "PENDING"}] for n in nodes)
        counts[first] = statements.count
    assert counts[10] == counts[50], counts
    assert counts[10] == ORDERS_BUDGET, statements.statements


async def test_a_cart_with_shipping_costs_the_same_statements_for_1_and_8_lines(
    world: World, gql: GraphQLClient, statements: StatementCounter
) -> None:
    await ship_to(world)
    variants = await _variants(world, 8)
    small = await ready_cart(world, variants[0])
    large = await ready_cart(world, variants[0])
    async with world.services.db.writer() as session, session.begin():
        cart = await session.get(Cart, large)
        assert cart is not None
        await carts.add_lines(session, cart, [carts.LineRequest(v, 1) for v in variants[1:]])
    # Workers cache the shop and, for 5 s, which extensions the shop has: warm both.
    (await gql(CART_QUERY, {"id": cart_gid(world, small)}, shop=world.handle)).ok()
    counts = {}
    for name, pk, lines in (("small", small, 1), ("large", large, 8)):
        statements.reset()
        data = (await gql(CART_QUERY, {"id": cart_gid(world, pk)}, shop=world.handle)).ok()
        read = data["cart"]
        assert len(read["lines"]) == lines
        assert read["shippingMethod"]["code"] == "standard"
        assert read["cost"]["shipping"] == {"amount": "4.95"}
        assert read["shippingAddress"] == {"city": "Berlin", "street1": "Unter den Linden 1"}
        counts[name] = statements.count
    assert counts["small"] == counts["large"], counts
    assert counts["small"] == CART_BUDGET, statements.statements
