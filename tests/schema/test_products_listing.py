"""Who sees which products in the listing, and the opt-in total count."""

from __future__ import annotations

import pytest

from app.goods.models import ProductStatus
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.listing import (
    COUNTED,
    LISTING,
    MATCHING,
    PAGE,
    UNCOUNTED,
    WORD,
    build_catalog,
    insert_products,
    listed_ids,
    matching_spec,
)
from tests.support.sql import StatementCounter

pytestmark = pytest.mark.anyio


# 6. Visibility


async def _one_of_each_status(world: World) -> dict[ProductStatus, str]:
    return {
        status: gid("Product", await world.product(f"{WORD} {status.value}", status=status))
        for status in ProductStatus
    }


async def _listed(
    gql: GraphQLClient, world: World, token: str | None, status: str | None = None
) -> set[str]:
    spec = {"status": status} if status else None
    page = await gql(LISTING, {"first": 100, "filter": spec}, shop=world.handle, token=token)
    return set(listed_ids([page.ok()["products"]]))


@pytest.mark.parametrize("caller", ["anonymous", "shopper", "business of another shop"])
async def test_a_storefront_caller_never_sees_drafts(
    world: World, other_world: World, gql: GraphQLClient, caller: str
) -> None:
    products = await _one_of_each_status(world)
    token = {
        "anonymous": None,
        "shopper": (await world.user("shopper"))[1],
        "business of another shop": (await other_world.user("business"))[1],
    }[caller]

    listed = await _listed(gql, world, token)
    asked_for_drafts = await _listed(gql, world, token, status="DRAFT")

    assert listed == {products[ProductStatus.ACTIVE]}
    assert asked_for_drafts == {products[ProductStatus.ACTIVE]}


async def test_a_business_user_of_the_shop_sees_drafts(world: World, gql: GraphQLClient) -> None:
    products = await _one_of_each_status(world)
    _, token = await world.user("business")

    listed = await _listed(gql, world, token)
    drafts = await _listed(gql, world, token, status="DRAFT")

    assert listed == set(products.values())
    assert drafts == {products[ProductStatus.DRAFT]}


# 7. Total count


async def test_total_count_is_the_number_of_matching_products_not_of_the_page(
    world: World, other_world: World, gql: GraphQLClient
) -> None:
    await build_catalog(world, other_world)

    result = await gql(COUNTED, {"first": PAGE, "filter": {"query": WORD}}, shop=world.handle)

    page = result.ok()["products"]
    assert page["totalCount"] == MATCHING
    assert len(page["edges"]) == PAGE


async def test_total_count_follows_the_category_tree_and_the_caller(
    world: World, gql: GraphQLClient
) -> None:
    lamps = await world.category("Lamps")
    desk_lamps = await world.category("Desk lamps", parent=lamps)
    chairs = await world.category("Chairs")
    for category, active, drafts in ((lamps, 3, 1), (desk_lamps, 4, 2), (chairs, 5, 0)):
        for index in range(active):
            await world.product(f"Item {index}", category=category)
        for index in range(drafts):
            await world.product(f"Draft {index}", category=category, status=ProductStatus.DRAFT)
    _, staff = await world.user("business")
    under_lamps = {"first": 1, "filter": {"categoryId": gid("Category", lamps)}}

    storefront = (await gql(COUNTED, under_lamps, shop=world.handle)).ok()["products"]
    business = (await gql(COUNTED, under_lamps, shop=world.handle, token=staff)).ok()["products"]
    everything = (await gql(COUNTED, {"first": 1}, shop=world.handle)).ok()["products"]

    assert storefront["totalCount"] == 3 + 4
    assert business["totalCount"] == 3 + 1 + 4 + 2
    assert everything["totalCount"] == 3 + 4 + 5


async def test_total_count_costs_one_statement_and_only_when_selected(
    world: World, gql: GraphQLClient, statements: StatementCounter
) -> None:
    await insert_products(world, [matching_spec(index) for index in range(12)])
    variables = {"first": 5, "filter": {"query": WORD}}
    await gql("{ shop { name } }", shop=world.handle)  # the shop lookup is cached from here on

    statements.reset()
    (await gql(UNCOUNTED, variables, shop=world.handle)).ok()
    without = statements.count
    statements.reset()
    (await gql(COUNTED, variables, shop=world.handle)).ok()

    assert statements.count == without + 1, statements.statements
    assert "count(" in statements.statements[-1].lower()
