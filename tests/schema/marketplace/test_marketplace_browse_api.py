"""Browsing the marketplace through HTTP: every sort walks the fixed data set page by page in
its pinned order, cursors are signed and bound to their sort, and only public listings show."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.factories import World
from tests.support.graphql import GraphQLClient
from tests.support.listings import (
    Catalog,
    draft_listing,
    ranked_catalog,
    seeded_boosts,
    submitted_listing,
)

pytestmark = pytest.mark.anyio

BROWSE = """query($first: Int, $after: String, $last: Int, $before: String, $c: String, $q: String,
  $sort: MarketplaceListingSort!, $pricing: MarketplaceListingPricing) {
  marketplaceListings(first: $first, after: $after, last: $last, before: $before, category: $c,
    query: $q, sort: $sort, pricing: $pricing) {
    edges { cursor node { slug } } pageInfo { hasNextPage hasPreviousPage endCursor }
    totalCount } }"""

PINNED = {
    "RELEVANCE": ["B", "A", "E", "C", "D"],
    "POPULAR": ["B", "A", "E", "C", "D"],
    "RATING": ["A", "E", "C", "D", "B"],
    "NEWEST": ["E", "D", "C", "B", "A"],
}


@pytest.fixture
async def catalog(world: World) -> AsyncIterator[Catalog]:
    async with seeded_boosts(world):
        yield await ranked_catalog(world)


def _keys(catalog: Catalog, connection: dict[str, Any]) -> list[str]:
    by_slug = {slug: key for key, slug in catalog.slugs.items()}
    return [by_slug[edge["node"]["slug"]] for edge in connection["edges"]]


async def _browse(gql: GraphQLClient, catalog: Catalog, **variables: Any) -> Any:
    return await gql(BROWSE, {"c": catalog.category, "sort": "RELEVANCE"} | variables)


@pytest.mark.parametrize("sort", sorted(PINNED))
async def test_each_sort_walks_the_data_set_two_at_a_time_in_its_pinned_order(
    gql: GraphQLClient, catalog: Catalog, sort: str
) -> None:
    seen: list[str] = []
    after = None
    for _ in range(5):
        page = (await _browse(gql, catalog, first=2, after=after, sort=sort)).ok()
        connection = page["marketplaceListings"]
        seen += _keys(catalog, connection)
        after = connection["pageInfo"]["endCursor"]
        if not connection["pageInfo"]["hasNextPage"]:
            break
    assert seen == PINNED[sort]
    # And backwards from the end, the same order
    back = (await _browse(gql, catalog, last=3, sort=sort)).ok()["marketplaceListings"]
    assert _keys(catalog, back) == PINNED[sort][-3:]
    assert back["pageInfo"]["hasPreviousPage"] is True
    assert back["totalCount"] == 5


async def test_a_query_and_a_pricing_filter_narrow_the_list(
    gql: GraphQLClient, catalog: Catalog
) -> None:
    found = (await _browse(gql, catalog, q="LABEL")).ok()["marketplaceListings"]
    assert _keys(catalog, found) == ["A", "D", "E", "B"]
    free = (await _browse(gql, catalog, pricing="FREE", sort="POPULAR")).ok()
    assert _keys(catalog, free["marketplaceListings"]) == ["A", "C", "D"]


async def test_a_forged_or_foreign_cursor_is_refused(gql: GraphQLClient, catalog: Catalog) -> None:
    page = (await _browse(gql, catalog, first=1, sort="POPULAR")).ok()
    cursor = page["marketplaceListings"]["pageInfo"]["endCursor"]
    assert (await _browse(gql, catalog, first=1, after=cursor, sort="RATING")).codes == [
        "INVALID_CURSOR"
    ]
    forged = cursor[:-2] + ("AA" if not cursor.endswith("AA") else "BB")
    assert (await _browse(gql, catalog, first=1, after=forged, sort="POPULAR")).codes == [
        "INVALID_CURSOR"
    ]
    relevance = (await _browse(gql, catalog, first=1, q="label")).ok()
    label_cursor = relevance["marketplaceListings"]["pageInfo"]["endCursor"]
    assert (await _browse(gql, catalog, first=1, after=label_cursor, q="stock")).codes == [
        "INVALID_CURSOR"
    ]


async def test_page_size_and_query_length_are_bounded(gql: GraphQLClient, catalog: Catalog) -> None:
    assert (await _browse(gql, catalog, first=101)).codes == ["PAGE_SIZE_EXCEEDED"]
    assert (await _browse(gql, catalog, q="x" * 201)).codes == ["BAD_USER_INPUT"]


async def test_drafts_and_listings_in_review_are_not_public(
    world: World, gql: GraphQLClient
) -> None:
    category = "unpublished-only"
    draft = await draft_listing(world, category=category)
    in_review = await submitted_listing(world, category=category)
    result = (await gql(BROWSE, {"c": category, "sort": "NEWEST"})).ok()
    slugs = [e["node"]["slug"] for e in result["marketplaceListings"]["edges"]]
    assert draft.slug not in slugs and in_review.slug not in slugs
    one = "query($s: String!) { listing(slug: $s) { slug } }"
    for made in (draft, in_review):
        assert (await gql(one, {"s": made.slug})).ok()["listing"] is None
