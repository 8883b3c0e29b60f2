"""The marketplace ranking: the documented formula, and the order it gives a fixed data set.

Five apps (tests/support/listings.py, RANKED) in a category of their own, with hand-picked
installs, ratings, tiers and words. The expected orders are worked out from the formula in
marketplace/ranking.py and pinned here, so any change to the formula shows up as a changed
order.
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator

import pytest

from app.pagination import PageRequest
from marketplace.models import PartnerStatus
from marketplace.ranking import (
    MAX_TERMS,
    ListingSearch,
    ListingSort,
    PricingFilter,
    bayesian_rating,
    count_listings,
    listing_order,
    query_terms,
    search_listings,
)
from tests.support.factories import World
from tests.support.listings import (
    RANKED,
    SEEDED_BOOSTS,
    Catalog,
    ranked_catalog,
    seeded_boosts,
    set_partner_status,
)

pytestmark = pytest.mark.anyio


def test_the_bayesian_average_pulls_few_ratings_towards_the_prior() -> None:
    assert bayesian_rating(0, 0) == 3.5
    assert bayesian_rating(5, 1) == pytest.approx(3.75)
    assert bayesian_rating(180, 40) == pytest.approx(4.3889, abs=1e-4)
    assert bayesian_rating(5, 1) < bayesian_rating(180, 40)


def test_query_terms_are_distinct_lowercase_words_and_bounded() -> None:
    assert query_terms("  Label LABEL printer ") == ["label", "printer"]
    assert query_terms(None) == []
    assert len(query_terms(" ".join(f"w{i}" for i in range(20)))) == MAX_TERMS


def test_a_cursor_of_one_query_does_not_continue_another() -> None:
    relevance = listing_order(ListingSort.RELEVANCE, "label").name
    assert relevance != listing_order(ListingSort.RELEVANCE, "labels").name
    assert relevance == listing_order(ListingSort.RELEVANCE, " LABEL ").name
    assert (
        listing_order(ListingSort.POPULAR, "a").name
        == listing_order(ListingSort.POPULAR, None).name
    )


def _score(key: str, relevance: int) -> float:
    app = RANKED[key]
    return (
        2 * relevance
        + bayesian_rating(app.rating_sum, app.rating_count)
        + 0.5 * math.log(1 + app.installs)
        + SEEDED_BOOSTS[app.tier]
    )


def test_the_pinned_orders_follow_from_the_formula() -> None:
    """The hand-worked scores behind the pinned RELEVANCE orders below."""
    without_query = {key: _score(key, 0) for key in RANKED}
    assert {k: round(v, 2) for k, v in without_query.items()} == {
        "A": 6.70, "B": 6.95, "C": 4.65, "D": 4.50, "E": 5.87,
    }  # fmt: skip
    # "label" in name (3), tagline (2), description (1): A 6, D 5, E 4, B 1; C none.
    with_query = {
        "A": _score("A", 6),
        "D": _score("D", 5),
        "E": _score("E", 4),
        "B": _score("B", 1),
    }
    assert {k: round(v, 2) for k, v in with_query.items()} == {
        "A": 18.70, "D": 14.50, "E": 13.87, "B": 8.95,
    }  # fmt: skip


@pytest.fixture
async def catalog(world: World) -> AsyncIterator[Catalog]:
    async with seeded_boosts(world):
        yield await ranked_catalog(world)


async def _order(world: World, catalog: Catalog, sort: ListingSort, **search: object) -> list[str]:
    spec = ListingSearch(category=catalog.category, **search)  # type: ignore[arg-type]
    async with world.services.db.reader() as session:
        page = await search_listings(
            session, spec, listing_order(sort, spec.query), PageRequest(first=20)
        )
    return catalog.keys([row.id for row in page.rows])


async def test_relevance_with_a_query_mixes_matches_rating_installs_and_tier(
    world: World, catalog: Catalog
) -> None:
    assert await _order(world, catalog, ListingSort.RELEVANCE, query="Label") == [
        "A",
        "D",
        "E",
        "B",
    ]


async def test_each_sort_pins_its_order_of_the_fixed_set(world: World, catalog: Catalog) -> None:
    assert await _order(world, catalog, ListingSort.RELEVANCE) == ["B", "A", "E", "C", "D"]
    assert await _order(world, catalog, ListingSort.POPULAR) == ["B", "A", "E", "C", "D"]
    # B and D tie at the prior 3.5: the higher id (D, made later) comes first.
    assert await _order(world, catalog, ListingSort.RATING) == ["A", "E", "C", "D", "B"]
    assert await _order(world, catalog, ListingSort.NEWEST) == ["E", "D", "C", "B", "A"]


async def test_a_query_filters_every_sort(world: World, catalog: Catalog) -> None:
    assert await _order(world, catalog, ListingSort.NEWEST, query="label") == ["E", "D", "B", "A"]
    assert await _order(world, catalog, ListingSort.POPULAR, query="politely") == ["C"]
    assert await _order(world, catalog, ListingSort.POPULAR, query="100%_off") == []


async def test_pricing_filters_by_the_plans_on_offer(world: World, catalog: Catalog) -> None:
    assert await _order(world, catalog, ListingSort.POPULAR, pricing=PricingFilter.FREE) == [
        "A",
        "C",
        "D",
    ]
    assert await _order(world, catalog, ListingSort.POPULAR, pricing=PricingFilter.PAID) == [
        "B",
        "E",
        "C",
    ]


async def test_a_suspended_partners_listings_drop_out(world: World, catalog: Catalog) -> None:
    await set_partner_status(world, catalog.partners["B"], PartnerStatus.SUSPENDED)
    assert await _order(world, catalog, ListingSort.POPULAR) == ["A", "E", "C", "D"]
    async with world.services.db.reader() as session:
        assert await count_listings(session, ListingSearch(category=catalog.category)) == 4
