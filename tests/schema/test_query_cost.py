"""Query cost: computed with variables, refused before SQL, charged, refunded and reported."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest

from app.config import Settings
from app.main import create_app
from tests.support.factories import World, make_world
from tests.support.sql import StatementCounter

pytestmark = pytest.mark.anyio

SLOW = 0.000_001

SHOP_AND_PRODUCTS = """{
  shop { name }
  products(first: 5) {
    edges { cursor node { title category { name } variants { sku price { amount } } } }
    pageInfo { hasNextPage }
  }
}"""  # shop 1 + products (2 + 5 x (category 1 + variants 1 + price 1) + pageInfo 1) = 19

WITH_VARIABLES = """query Listing($n: Int!) {
  products(first: $n) { nodes { images { url } priceRange { min { amount } } } totalCount }
}"""  # 2 + n x (images 1 + priceRange 1 + min 1) = 32 for n = 10

CATEGORY_TREE = """{ categories { name children { name parent { name } } } me { email } }"""
# categories list 1 + children list 1 + parent 1, then me 1 = 4

TOO_COSTLY = """{ products(first: 100) { edges { node {
  category { parent { parent { name } } }
  variants { price { amount } compareAtPrice { amount } }
  images { url }
  priceRange { min { amount } max { amount } }
} } } }"""  # 2 + 100 x (3 + 3 + 1 + 3) = 1002


@asynccontextmanager
async def tight(
    settings: Settings, migrated: str, **limits: Any
) -> AsyncIterator[tuple[Any, httpx.AsyncClient]]:
    tuned = settings.model_copy(
        update={"redis_prefix": f"{settings.redis_prefix}{uuid.uuid4().hex[:6]}:", **limits}
    )
    app = create_app(tuned)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            yield app, http


async def _post(
    http: httpx.AsyncClient, query: str, shop: str, variables: dict[str, Any] | None = None
) -> dict[str, Any]:
    response = await http.post(
        "/graphql",
        json={"query": query, "variables": variables or {}},
        headers={"x-agora-shop": shop},
    )
    assert response.status_code == 200, response.text
    return response.json()


async def _stocked_world(app: Any, products: int) -> World:
    world = await make_world(app)
    category = await world.category("Bags")
    for index in range(products):
        await world.product(f"Bag {index}", category=category, images=1)
    return world


async def test_costs_match_hand_computed_figures(settings: Settings, migrated: str) -> None:
    async with tight(settings, migrated) as (app, http):
        world = await _stocked_world(app, 12)
        first = await _post(http, SHOP_AND_PRODUCTS, world.handle)
        second = await _post(http, WITH_VARIABLES, world.handle, {"n": 10})
        third = await _post(http, CATEGORY_TREE, world.handle)
    assert first["extensions"]["cost"]["requestedQueryCost"] == 19
    assert first["extensions"]["cost"]["actualQueryCost"] == 19
    assert second["extensions"]["cost"]["requestedQueryCost"] == 32
    assert third["extensions"]["cost"]["requestedQueryCost"] == 4
    status = third["extensions"]["cost"]["throttleStatus"]
    assert status["maximumAvailable"] == settings.query_cost_bucket_max
    assert status["restoreRate"] == settings.query_cost_restore_rate


async def test_the_unused_part_is_refunded(settings: Settings, migrated: str) -> None:
    async with tight(
        settings, migrated, query_cost_bucket_max=100, query_cost_restore_rate=SLOW
    ) as (app, http):
        world = await _stocked_world(app, 2)
        body = await _post(http, SHOP_AND_PRODUCTS, world.handle)
    cost = body["extensions"]["cost"]
    # Two products came back instead of five: 1 + (2 + 2 x 3 + 1) = 10.
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (19, 10)
    assert cost["throttleStatus"]["currentlyAvailable"] == pytest.approx(90, abs=0.01)


async def test_a_query_over_the_maximum_is_refused_before_any_sql(
    settings: Settings, migrated: str
) -> None:
    async with tight(settings, migrated) as (app, http):
        world = await _stocked_world(app, 1)
        await _post(http, "{ shop { name } }", world.handle)  # the shop is now known
        with StatementCounter.attached(app.state.services.db.engine) as statements:
            body = await _post(http, TOO_COSTLY, world.handle)
    assert body["data"] is None
    assert [e["extensions"]["code"] for e in body["errors"]] == ["MAX_COST_EXCEEDED"]
    assert body["errors"][0]["extensions"]["requestedQueryCost"] == 1002
    assert statements.count == 0, statements.statements


async def test_repeating_a_query_drains_the_bucket_even_from_the_validation_cache(
    settings: Settings, migrated: str
) -> None:
    async with tight(
        settings, migrated, query_cost_bucket_max=50, query_cost_restore_rate=SLOW
    ) as (app, http):
        world = await _stocked_world(app, 10)
        first = await _post(http, WITH_VARIABLES, world.handle, {"n": 10})
        second = await _post(http, WITH_VARIABLES, world.handle, {"n": 10})
        cheaper = await _post(http, WITH_VARIABLES, world.handle, {"n": 5})
    assert first["extensions"]["cost"]["throttleStatus"]["currentlyAvailable"] == pytest.approx(
        18, abs=0.01
    )
    assert [e["extensions"]["code"] for e in second["errors"]] == ["THROTTLED"]
    assert second["data"] is None
    # The variables change the cost: five nodes cost 17 and still fit in the 18 left.
    assert cheaper["extensions"]["cost"]["requestedQueryCost"] == 17
    assert "errors" not in cheaper


async def test_fragments_and_aliases_are_costed(
    settings: Settings, migrated: str, world: World
) -> None:
    query = """
    query { a: products(first: 3) { nodes { ...Priced } } b: products(first: 2) { nodes { ...Priced } } }
    fragment Priced on Product { priceRange { min { amount } } category { name } }
    """  # each node: priceRange 1 + min 1 + category 1 = 3; a = 2 + 9, b = 2 + 6
    async with tight(settings, migrated) as (_, http):
        body = await _post(http, query, world.handle)
    assert body["extensions"]["cost"]["requestedQueryCost"] == 19


async def test_a_response_that_never_executed_still_reports_cost(
    settings: Settings, migrated: str, world: World
) -> None:
    async with tight(settings, migrated) as (_, http):
        body = await _post(http, "{ noSuchField }", world.handle)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["GRAPHQL_VALIDATION_FAILED"]
    cost = body["extensions"]["cost"]
    assert (cost["requestedQueryCost"], cost["actualQueryCost"]) == (0, 0)
    assert cost["throttleStatus"]["maximumAvailable"] == settings.query_cost_bucket_max


async def test_a_negative_page_size_cannot_refill_the_bucket(
    settings: Settings, migrated: str
) -> None:
    async with tight(
        settings, migrated, query_cost_bucket_max=50, query_cost_restore_rate=SLOW
    ) as (app, http):
        world = await _stocked_world(app, 10)
        await _post(http, WITH_VARIABLES, world.handle, {"n": 10})  # 32 of 50 spent
        sneaky = await _post(
            http, "{ products(first: -1000) { nodes { category { name } } } }", world.handle
        )
        assert sneaky["extensions"]["cost"]["requestedQueryCost"] >= 0
        again = await _post(http, WITH_VARIABLES, world.handle, {"n": 10})
    assert [e["extensions"]["code"] for e in again["errors"]] == ["THROTTLED"]


async def test_nodes_by_id_pay_for_every_id(
    settings: Settings, migrated: str, world: World
) -> None:
    ids = [f"UHJvZHVjdDo{n}" for n in range(40)]
    query = "query($ids: [ID!]!) { nodes(ids: $ids) { ... on Product { category { name } priceRange { min { amount } } } } }"
    async with tight(settings, migrated) as (_, http):
        body = await _post(http, query, world.handle, {"ids": ids})
    # 1 + 40 ids x (category 1 + priceRange 1 + min 1)
    assert body["extensions"]["cost"]["requestedQueryCost"] == 1 + 40 * 3


async def test_a_malformed_variable_is_refused_with_a_code(
    settings: Settings, migrated: str, world: World
) -> None:
    async with tight(settings, migrated) as (_, http):
        for value in ("abc", [1], {"a": 1}):
            body = await _post(http, WITH_VARIABLES, world.handle, {"n": value})
            assert body["data"] is None
            assert all(
                e["extensions"]["code"] == "GRAPHQL_VALIDATION_FAILED" for e in body["errors"]
            ), body


async def test_nested_fragments_are_priced_without_expanding_them(
    settings: Settings, migrated: str, world: World
) -> None:
    """Each fragment spreads the next twice: 2^40 selections, priced in linear work."""
    levels = 40
    fragments = "".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}\n" for i in range(levels)
    )
    query = "query { ...F0 }\n" + fragments + f"fragment F{levels} on Query {{ shop {{ name }} }}"
    async with tight(settings, migrated) as (_, http):
        body = await _post(http, query, world.handle)
    assert [e["extensions"]["code"] for e in body["errors"]] == ["MAX_COST_EXCEEDED"]
    assert body["errors"][0]["extensions"]["requestedQueryCost"] == 2**levels


async def test_nested_fragments_inside_a_connection_are_priced_once_each(
    settings: Settings, migrated: str, world: World
) -> None:
    levels = 40
    fragments = "".join(
        f"fragment E{i} on ProductEdge {{ ...E{i + 1} ...E{i + 1} }}\n" for i in range(levels)
    )
    query = (
        "query { products(first: 1) { edges { ...E0 } } }\n"
        + fragments
        + f"fragment E{levels} on ProductEdge {{ node {{ category {{ name }} }} }}"
    )
    async with tight(settings, migrated) as (_, http):
        body = await _post(http, query, world.handle)
    assert body["errors"][0]["extensions"]["requestedQueryCost"] == 2 + 2**levels
