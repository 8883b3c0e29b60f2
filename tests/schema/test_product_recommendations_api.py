"""``Product.recommendations`` through GraphQL: the shop's strategic extension over real HTTP,
else the built-in list; a page of products costs the same statements whatever its size."""

from __future__ import annotations

import pytest

from tests.support.extension_apps import extension_app, failures_of
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.receiver import Receiver
from tests.support.sql import StatementCounter

pytestmark = pytest.mark.anyio

ONE = "query($id: ID!) { product(id: $id) { recommendations(first: 2) { id title } } }"
PAGE = "query($n: Int!) { products(first: $n) { nodes { title recommendations(first: 3) { title } } } }"


async def test_the_extension_recommends_through_graphql(
    world: World, gql: GraphQLClient, receiver: Receiver
) -> None:
    product = await world.product("Tent")
    stove, mat = await world.product("Stove"), await world.product("Mat")
    made = await extension_app(world, {"goods.recommendations": receiver.endpoint("/recommend")})
    receiver.answer = {"products": [gid("Product", mat), gid("Product", stove)]}
    data = (await gql(ONE, {"id": gid("Product", product)}, shop=world.handle)).ok()
    assert data["product"]["recommendations"] == [
        {"id": gid("Product", mat), "title": "Mat"},
        {"id": gid("Product", stove), "title": "Stove"},
    ]
    [call] = receiver.requests
    assert call.signed_by(made.webhook_secret)


async def test_another_shops_product_falls_back_to_the_built_in_list(
    world: World, other_world: World, gql: GraphQLClient, receiver: Receiver
) -> None:
    product = await world.product("Tent")
    await world.product("Stove")
    made = await extension_app(world, {"goods.recommendations": receiver.endpoint("/recommend")})
    receiver.answer = {"products": [gid("Product", await other_world.product("Elsewhere"))]}
    data = (await gql(ONE, {"id": gid("Product", product)}, shop=world.handle)).ok()
    assert [p["title"] for p in data["product"]["recommendations"]] == ["Stove"]
    assert [f.kind for f in await failures_of(world, made.app.id)] == ["malformed"]


async def test_first_above_20_is_refused(world: World, gql: GraphQLClient) -> None:
    product = await world.product("Tent")
    query = "query($id: ID!) { product(id: $id) { recommendations(first: 21) { id } } }"
    result = await gql(query, {"id": gid("Product", product)}, shop=world.handle)
    assert result.codes == ["BAD_USER_INPUT"]


async def test_a_page_with_recommendations_costs_the_same_for_2_and_8(
    world: World, gql: GraphQLClient, statements: StatementCounter
) -> None:
    camping = await world.category("Camping")
    for index in range(8):
        await world.product(f"Thing {index}", category=camping)
    await gql(PAGE, {"n": 1}, shop=world.handle)  # warm the shop and extension lookups
    counts = {}
    for size in (2, 8):
        statements.reset()
        nodes = (await gql(PAGE, {"n": size}, shop=world.handle)).ok()["products"]["nodes"]
        assert len(nodes) == size
        assert all(len(node["recommendations"]) == 3 for node in nodes)
        counts[size] = statements.count
    assert counts[2] == counts[8], counts
