"""Who may do what, checked through HTTP: RBAC at the schema layer and tenant isolation."""

from __future__ import annotations

import pytest

from app.goods.models import ProductStatus
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient

pytestmark = pytest.mark.anyio

CREATE = (
    """mutation { productCreate(input: {title: "Sneaky"}) { product { id } errors { code } } }"""
)


async def test_anonymous_caller_cannot_create_products(world: World, gql: GraphQLClient) -> None:
    result = await gql(CREATE, shop=world.handle)
    assert result.status == 200
    assert result.data == {"productCreate": None}
    assert result.codes == ["FORBIDDEN"]


async def test_shopper_cannot_create_products(world: World, gql: GraphQLClient) -> None:
    _, token = await world.user("shopper")
    result = await gql(CREATE, shop=world.handle, token=token)
    assert result.codes == ["FORBIDDEN"]


@pytest.mark.parametrize("role", ["ops", "finance", "community_admin"])
async def test_platform_staff_cannot_edit_a_shops_catalog(
    world: World, gql: GraphQLClient, role: str
) -> None:
    _, token = await world.user(role, domain="platform")
    assert (await gql(CREATE, shop=world.handle, token=token)).codes == ["FORBIDDEN"]


async def test_business_user_of_the_shop_can(world: World, gql: GraphQLClient) -> None:
    _, token = await world.user("business")
    result = await gql(CREATE, shop=world.handle, token=token)
    assert result.ok()["productCreate"]["errors"] == []


async def test_another_shops_business_user_cannot_write_this_catalog(
    world: World, other_world: World, gql: GraphQLClient
) -> None:
    _, outsider = await other_world.user("business")
    assert (await gql(CREATE, shop=world.handle, token=outsider)).codes == ["FORBIDDEN"]
    product = await world.product("Mine")
    update = """mutation($id: ID!) { productUpdate(id: $id, input: {title: "Stolen"}) { product { title } errors { code } } }"""
    # Acting in their own shop, the foreign ID simply does not exist.
    payload = (
        await gql(update, {"id": gid("Product", product)}, shop=other_world.handle, token=outsider)
    ).ok()
    assert payload["productUpdate"] == {"product": None, "errors": [{"code": "NOT_FOUND"}]}
    assert (
        await gql(update, {"id": gid("Product", product)}, shop=world.handle, token=outsider)
    ).codes == ["FORBIDDEN"]


async def test_another_shops_business_user_cannot_read_drafts(
    world: World, other_world: World, gql: GraphQLClient
) -> None:
    draft = gid("Product", await world.product("Secret", status=ProductStatus.DRAFT))
    _, insider = await world.user("business")
    _, outsider = await other_world.user("business")
    query = """query($id: ID!) { product(id: $id) { title } node(id: $id) { id } nodes(ids: [$id]) { id }
        products(first: 10, filter: {query: "Secret"}) { nodes { title } } }"""
    seen = (await gql(query, {"id": draft}, shop=world.handle, token=insider)).ok()
    assert seen["product"] == {"title": "Secret"}
    assert seen["node"] == {"id": draft} and seen["nodes"] == [{"id": draft}]
    assert seen["products"]["nodes"] == [{"title": "Secret"}]
    for shop in (world.handle, other_world.handle):
        hidden = (await gql(query, {"id": draft}, shop=shop, token=outsider)).ok()
        assert hidden == {"product": None, "node": None, "nodes": [None], "products": {"nodes": []}}


async def test_active_products_of_another_shop_are_not_visible_through_node(
    world: World, other_world: World, gql: GraphQLClient
) -> None:
    product = gid("Product", await world.product("Public"))
    query = "query($id: ID!) { node(id: $id) { id } }"
    assert (await gql(query, {"id": product}, shop=world.handle)).ok() == {"node": {"id": product}}
    assert (await gql(query, {"id": product}, shop=other_world.handle)).ok() == {"node": None}


async def test_inventory_levels_are_for_staff_only(world: World, gql: GraphQLClient) -> None:
    await world.product("Boxed")
    query = "{ products(first: 1) { nodes { variants { inventoryLevels { onHand } } } } }"
    anonymous = await gql(query, shop=world.handle)
    assert anonymous.codes == ["FORBIDDEN"]
    _, token = await world.user("business")
    staff = await gql(query, shop=world.handle, token=token)
    assert staff.ok()["products"]["nodes"] == [{"variants": [{"inventoryLevels": []}]}]


async def test_warehouses_are_hidden_from_storefronts(world: World, gql: GraphQLClient) -> None:
    warehouse = gid("Warehouse", await world.warehouse("AMS"))
    query = "query($id: ID!) { node(id: $id) { ... on Warehouse { code } } }"
    assert (await gql(query, {"id": warehouse}, shop=world.handle)).ok() == {"node": None}
    _, token = await world.user("business")
    assert (await gql(query, {"id": warehouse}, shop=world.handle, token=token)).ok() == {
        "node": {"code": "AMS"}
    }
    assert (await gql("{ warehouses { code } }", shop=world.handle)).codes == ["FORBIDDEN"]


async def test_a_request_for_an_unknown_shop_is_refused(gql: GraphQLClient) -> None:
    result = await gql("{ products(first: 1) { nodes { id } } }", shop="no-such-shop")
    assert result.codes == ["NOT_FOUND"]
