"""SQL-statement budgets for the public marketplace: a page of listings with their partners,
plans, ratings and reviews costs a fixed number of statements whatever the page size."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from marketplace.models import Tier
from marketplace.reviews import create_review
from tests.support.factories import World, unique
from tests.support.graphql import GraphQLClient
from tests.support.listings import FREE, MONTHLY, install, published_listing
from tests.support.marketplace import make_partner
from tests.support.sql import StatementCounter

pytestmark = pytest.mark.anyio

LISTINGS = """query($first: Int!, $c: String) { marketplaceListings(first: $first, category: $c) {
  nodes { partner { tier } plans { price { amount } } rating installs } } }"""
# The page (published listings joined to content, partner and tier boost), the page's published
# revisions (its content), the partners, the plans.
LISTINGS_BUDGET = 4
WITH_REVIEWS = """query($first: Int!, $c: String) { marketplaceListings(first: $first, category: $c,
  sort: RATING) { nodes { name partner { name } plans { name } reviews(first: 3) { rating } } } }"""
# As above, plus every listing's latest reviews in one windowed statement.
WITH_REVIEWS_BUDGET = 5
PARTNERS = 5
LISTINGS_MADE = 50


async def _marketplace(world: World) -> str:
    """50 published listings with two plans each, of five partners, in a category of their own;
    every fifth one reviewed by the world's shop."""
    category = unique("budget")
    partners = [(await make_partner(world, tier=Tier.STRATEGIC))[0] for _ in range(PARTNERS)]
    for index in range(LISTINGS_MADE):
        made = await published_listing(
            world,
            partner_id=partners[index % PARTNERS],
            category=category,
            plan_drafts=(FREE, MONTHLY),
        )
        if index % 5 == 0:
            await install(world, made.app_id)
            await _review(world, made.listing_id)
    return category


async def _review(world: World, listing_id: int) -> None:
    async with world.services.db.writer() as session, session.begin():
        await create_review(
            session,
            listing_id,
            world.shop.id,
            rating=4,
            text="Good",
            author="test",
            now=datetime.now(UTC),
        )


async def _counts(
    world: World, gql: GraphQLClient, statements: StatementCounter, query: str, category: str
) -> dict[int, int]:
    # Named shop: the shop lookup is cached after the first request, so it is not counted.
    (await gql(query, {"first": 1, "c": category}, shop=world.handle)).ok()
    counts = {}
    for first in (10, 50):
        statements.reset()
        data = (await gql(query, {"first": first, "c": category}, shop=world.handle)).ok()
        nodes = data["marketplaceListings"]["nodes"]
        assert len(nodes) == first
        assert all(len(node["plans"]) == 2 for node in nodes)
        if "reviews" in query:  # the ten reviewed listings rate highest
            assert sum(len(node["reviews"]) for node in nodes) == LISTINGS_MADE // 5
        counts[first] = statements.count
    return counts


@pytest.fixture
async def category(world: World) -> str:
    return await _marketplace(world)


async def test_a_page_of_listings_costs_the_same_for_10_and_50(
    world: World, gql: GraphQLClient, statements: StatementCounter, category: str
) -> None:
    counts = await _counts(world, gql, statements, LISTINGS, category)
    assert counts[10] == counts[50], counts
    assert counts[10] == LISTINGS_BUDGET, statements.statements


async def test_reviews_add_one_statement_for_the_whole_page(
    world: World, gql: GraphQLClient, statements: StatementCounter, category: str
) -> None:
    counts = await _counts(world, gql, statements, WITH_REVIEWS, category)
    assert counts[10] == counts[50], counts
    assert counts[10] == WITH_REVIEWS_BUDGET, statements.statements
