"""SQL-statement budgets: an operation's statement count is fixed, whatever the page size."""

from __future__ import annotations

import pytest

from app.goods.models import Variant
from tests.support.factories import World
from tests.support.graphql import GraphQLClient
from tests.support.sql import StatementCounter

pytestmark = pytest.mark.anyio

PRODUCTS_QUERY = """
query Budget($first: Int!) {
  products(first: $first) {
    edges { node {
      category { name }
      images { url }
      variants { sku price { amount } quantityAvailable }
      priceRange { min { amount } }
    } }
  }
}
"""
BUDGET = 5


async def _catalog(world: World, size: int) -> None:
    category = await world.category("Shoes")
    warehouse = await world.warehouse()
    for index in range(size):
        product = await world.product(
            f"Shoe {index}", prices=("10.00", "12.50"), category=category, images=2
        )
        async with world.services.db.reader() as session:
            from sqlalchemy import select

            variant = await session.scalar(
                select(Variant.id).where(Variant.product_id == product).limit(1)
            )
        await world.stock(variant, warehouse, 5)


@pytest.mark.parametrize("role", [None, "business"])
async def test_products_page_costs_the_same_statements_for_10_50_and_100(
    world: World, gql: GraphQLClient, statements: StatementCounter, role: str | None
) -> None:
    await _catalog(world, 100)
    token = (await world.user(role))[1] if role else None
    await gql("{ shop { name } }", shop=world.handle)  # workers cache the shop lookup
    counts = {}
    for first in (10, 50, 100):
        statements.reset()
        data = (await gql(PRODUCTS_QUERY, {"first": first}, shop=world.handle, token=token)).ok()
        edges = data["products"]["edges"]
        assert len(edges) == first
        assert all(len(e["node"]["variants"]) == 2 and len(e["node"]["images"]) == 2 for e in edges)
        assert all(e["node"]["category"]["name"] == "Shoes" for e in edges)
        counts[first] = statements.count
    assert counts[10] == counts[50] == counts[100], counts
    assert counts[10] <= BUDGET, statements.statements


async def test_relations_that_are_not_selected_are_not_loaded(
    world: World, gql: GraphQLClient, statements: StatementCounter
) -> None:
    await _catalog(world, 5)
    await gql("{ shop { name } }", shop=world.handle)
    statements.reset()
    titles = (await gql("{ products(first: 5) { nodes { title } } }", shop=world.handle)).ok()
    assert len(titles["products"]["nodes"]) == 5
    assert statements.count == 1, statements.statements
    statements.reset()
    query = "{ products(first: 5) { edges { node { ...F } } } } fragment F on Product { images { url } }"
    (await gql(query, shop=world.handle)).ok()
    assert statements.count == 2, statements.statements
