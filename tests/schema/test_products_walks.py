"""Keyset walks visit every matching product exactly once, for every sort key and direction,
also while products are being added between page fetches."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime

import pytest

from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.listing import (
    MATCHING,
    PAGE,
    SORT_KEYS,
    build_catalog,
    insert_products,
    listed_ids,
    matching_spec,
    twice,
    walk,
)

pytestmark = pytest.mark.anyio


# 3. Complete walks


@pytest.mark.parametrize("backward", [False, True], ids=["first-after", "last-before"])
@pytest.mark.parametrize("reverse", [False, True], ids=["natural", "reversed"])
@pytest.mark.parametrize("sort_key", SORT_KEYS)
async def test_walking_every_page_visits_each_matching_product_exactly_once(
    world: World,
    other_world: World,
    gql: GraphQLClient,
    sort_key: str,
    reverse: bool,
    backward: bool,
) -> None:
    catalog = await build_catalog(world, other_world)

    pages = await walk(gql, world, sort_key=sort_key, reverse=reverse, backward=backward)

    listed = listed_ids(pages, backward=backward)
    assert twice(listed) == []
    assert set(listed) == set(catalog.ids)
    assert listed == catalog.expected(sort_key, reverse)
    assert len(pages) == -(-MATCHING // PAGE)
    assert all(len(page["edges"]) == PAGE for page in pages[:-1])


# 4. Walks while the catalog grows


@pytest.mark.parametrize("backward", [False, True], ids=["first-after", "last-before"])
@pytest.mark.parametrize("reverse", [False, True], ids=["natural", "reversed"])
@pytest.mark.parametrize("sort_key", SORT_KEYS)
async def test_products_added_between_pages_shift_no_product_onto_a_second_page_or_off_all(
    world: World,
    other_world: World,
    gql: GraphQLClient,
    sort_key: str,
    reverse: bool,
    backward: bool,
) -> None:
    catalog = await build_catalog(world, other_world)
    chance = random.Random(f"{sort_key}-{reverse}-{backward}")
    added: list[int] = []

    async def add_look_alikes() -> None:
        specs = [matching_spec(chance.randrange(MATCHING)) for _ in range(3)]
        specs.append(replace(specs[0], created_at=datetime.now(UTC)))
        added.extend(await insert_products(world, specs))

    pages = await walk(
        gql,
        world,
        sort_key=sort_key,
        reverse=reverse,
        backward=backward,
        between_pages=add_look_alikes,
    )

    listed = listed_ids(pages, backward=backward)
    assert added
    assert twice(listed) == []
    assert set(catalog.ids) <= set(listed)
    assert set(listed) - set(catalog.ids) <= {gid("Product", pk) for pk in added}
