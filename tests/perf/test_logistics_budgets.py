"""SQL-statement budgets for logistics reads: a page of orders with their parcels, timelines and
carriers, and a page of parcels, cost a fixed number of statements whatever the page size."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from app.trade.checkout import CheckoutRequest, complete_checkout
from app.trade.lifecycle import mark_order_paid
from app.trade.order_models import OrderAllocation, OrderLine, PaymentMethod
from tests.support.factories import World
from tests.support.graphql import GraphQLClient
from tests.support.shipping import make_carrier, order_lines, ship
from tests.support.sql import StatementCounter
from tests.support.trade import ready_cart, ship_to, stocked_variant

pytestmark = pytest.mark.anyio

ORDERS = """query($first: Int!) { orders(first: $first) {
  nodes { shipments { events { status } carrier { name } } } } }"""
# The caller's role assignments, the page of orders, their shipments, the shipments' tracking
# events, their carriers.
ORDERS_BUDGET = 5
SHIPMENTS = """query($first: Int!) { shipments(first: $first) {
  nodes { carrier { name } events { status } lines { quantity } } } }"""
# The caller's role assignments, the page of shipments, their carriers, their events, their lines.
SHIPMENTS_BUDGET = 5


async def _shipped_orders(world: World, count: int) -> None:
    """``count`` paid orders of one unit, each shipped as one parcel, by two carriers in turn."""
    await ship_to(world)
    variant = await stocked_variant(world, units=count)
    carriers = [(await make_carrier(world))[0], (await make_carrier(world))[0]]
    for index in range(count):
        cart = await ready_cart(world, variant)
        placed = await complete_checkout(
            world.services.trade,
            CheckoutRequest(
                world.shop.id, cart, None, PaymentMethod.BANK_TRANSFER, uuid.uuid4().hex
            ),
        )
        async with world.services.db.writer() as session, session.begin():
            await mark_order_paid(session, world.shop.id, placed.order_id, actor="test")
        lines = await order_lines(world, placed.order_id)
        await ship(
            world,
            placed.order_id,
            await _warehouse_of(world, placed.order_id),
            carriers[index % 2],
            f"TN{uuid.uuid4().hex[:12]}",
            lines,
        )


async def _warehouse_of(world: World, order: int) -> int:
    async with world.services.db.reader() as session:
        warehouse = await session.scalar(
            select(OrderAllocation.warehouse_id)
            .join(OrderLine, OrderLine.id == OrderAllocation.line_id)
            .where(OrderLine.order_id == order)
        )
    assert warehouse is not None
    return int(warehouse)


async def _counts(
    world: World, gql: GraphQLClient, statements: StatementCounter, query: str, field: str
) -> dict[int, int]:
    _, token = await world.user("business")
    (await gql(query, {"first": 1}, shop=world.handle, token=token)).ok()  # warm caches
    counts = {}
    for first in (10, 50):
        statements.reset()
        data = (await gql(query, {"first": first}, shop=world.handle, token=token)).ok()
        nodes = data[field]["nodes"]
        assert len(nodes) == first
        if field == "orders":
            parcels = [s for n in nodes for s in n["shipments"]]
        else:
            parcels = nodes
            assert all(n["lines"] == [{"quantity": 1}] for n in nodes)
        assert len(parcels) == first
        assert all(p["events"] == [{"status": "LABEL_CREATED"}] for p in parcels)
        assert len({p["carrier"]["name"] for p in parcels}) == 2
        counts[first] = statements.count
    return counts


async def test_a_page_of_orders_with_parcels_costs_the_same_for_10_and_50(
    world: World, gql: GraphQLClient, statements: StatementCounter
) -> None:
    await _shipped_orders(world, 50)
    counts = await _counts(world, gql, statements, ORDERS, "orders")
    assert counts[10] == counts[50], counts
    assert counts[10] == ORDERS_BUDGET, statements.statements


async def test_a_page_of_parcels_costs_the_same_for_10_and_50(
    world: World, gql: GraphQLClient, statements: StatementCounter
) -> None:
    await _shipped_orders(world, 50)
    counts = await _counts(world, gql, statements, SHIPMENTS, "shipments")
    assert counts[10] == counts[50], counts
    assert counts[10] == SHIPMENTS_BUDGET, statements.statements
