"""The product listing's page-size and cursor refusals (before any product SQL), backward pages,
page info at both ends, and cursors bound to the order that made them."""

from __future__ import annotations

import base64
import binascii
import random
from collections.abc import Callable

import pytest

from tests.support.factories import World
from tests.support.graphql import GraphQLClient
from tests.support.listing import (
    CURSOR_ALPHABET,
    LISTING,
    MATCHING,
    PAGE,
    SHOP_LOOKUP_STATEMENTS,
    SORT_KEYS,
    WORD,
    assert_refused,
    build_catalog,
    first_cursor,
    insert_products,
    listed_ids,
    matching_spec,
    walk,
)
from tests.support.sql import StatementCounter

pytestmark = pytest.mark.anyio


# 1. Page size


@pytest.mark.parametrize("argument", ["first", "last"])
async def test_a_page_of_101_is_refused_before_any_product_sql(
    world: World, gql: GraphQLClient, statements: StatementCounter, argument: str
) -> None:
    await world.product(f"{WORD} lamp")

    statements.reset()
    result = await gql(LISTING, {argument: 101}, shop=world.handle)

    assert_refused(result, "PAGE_SIZE_EXCEEDED")
    assert result.errors[0]["extensions"]["maximum"] == 100
    assert result.errors[0]["path"] == ["products"]
    assert statements.count <= SHOP_LOOKUP_STATEMENTS, statements.statements
    assert not any("products" in sql for sql in statements.statements), statements.statements


@pytest.mark.parametrize("argument", ["first", "last"])
async def test_a_page_of_100_is_served(world: World, gql: GraphQLClient, argument: str) -> None:
    await insert_products(world, [matching_spec(index) for index in range(101)])

    page = (await gql(LISTING, {argument: 100}, shop=world.handle)).ok()["products"]

    assert len(page["edges"]) == 100


# 2. Cursors


def _random_cursor(valid: str) -> str:
    return "".join(random.Random(7).choice(CURSOR_ALPHABET) for _ in valid)


def _one_character_changed(cursor: str, position: int) -> str:
    other = CURSOR_ALPHABET[(CURSOR_ALPHABET.index(cursor[position]) + 1) % len(CURSOR_ALPHABET)]
    return cursor[:position] + other + cursor[position + 1 :]


GARBLINGS: dict[str, Callable[[str], str]] = {
    "words": lambda _valid: "not-a-cursor",
    "empty": lambda _valid: "",
    "random-characters": _random_cursor,
    "non-ascii": lambda valid: valid[:-2] + "é",
    "truncated-tail": lambda valid: valid[:-4],
    "truncated-to-tag": lambda valid: valid[:16],
    "tag-changed": lambda valid: _one_character_changed(valid, 3),
    "payload-changed": lambda valid: _one_character_changed(valid, 20),
}


@pytest.mark.parametrize("argument", ["after", "before"])
@pytest.mark.parametrize("garbling", list(GARBLINGS))
async def test_a_garbled_cursor_is_refused_as_invalid(
    world: World,
    gql: GraphQLClient,
    statements: StatementCounter,
    garbling: str,
    argument: str,
) -> None:
    await insert_products(world, [matching_spec(index) for index in range(5)])
    garbled = GARBLINGS[garbling](await first_cursor(gql, world, "PRICE"))

    statements.reset()
    result = await gql(LISTING, {argument: garbled, "sortKey": "PRICE"}, shop=world.handle)

    assert_refused(result, "INVALID_CURSOR")
    assert statements.count <= SHOP_LOOKUP_STATEMENTS, statements.statements


def _decodes_to(cursor: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, binascii.Error):
        return None


async def test_changing_any_one_character_of_a_cursor_makes_it_invalid(
    world: World, gql: GraphQLClient
) -> None:
    await insert_products(world, [matching_spec(index) for index in range(5)])
    valid = await first_cursor(gql, world, "CREATED_AT")

    outcomes: dict[int, list[str]] = {}
    for position in range(len(valid)):
        changed = _one_character_changed(valid, position)
        if _decodes_to(changed) == _decodes_to(valid):
            continue
        variables = {"after": changed, "sortKey": "CREATED_AT"}
        result = await gql(LISTING, variables, shop=world.handle)
        assert result.status == 200, result.body
        outcomes[position] = result.codes

    assert len(outcomes) >= len(valid) - 1
    assert all(codes == ["INVALID_CURSOR"] for codes in outcomes.values()), outcomes


@pytest.mark.parametrize(
    ("made_with", "used_with"),
    [(a, b) for a in SORT_KEYS for b in SORT_KEYS if a != b],
)
async def test_a_cursor_of_another_sort_key_is_refused(
    world: World, gql: GraphQLClient, made_with: str, used_with: str
) -> None:
    await insert_products(world, [matching_spec(index) for index in range(5)])
    cursor = await first_cursor(gql, world, made_with)

    result = await gql(
        LISTING,
        {"after": cursor, "sortKey": used_with, "filter": {"query": WORD}},
        shop=world.handle,
    )

    assert_refused(result, "INVALID_CURSOR")


async def test_a_cursor_of_another_sort_key_is_refused_going_backward(
    world: World, gql: GraphQLClient
) -> None:
    await insert_products(world, [matching_spec(index) for index in range(5)])
    cursor = await first_cursor(gql, world, "TITLE")

    result = await gql(
        LISTING, {"before": cursor, "last": 2, "sortKey": "CREATED_AT"}, shop=world.handle
    )

    assert_refused(result, "INVALID_CURSOR")


# 5. Direction and page info


@pytest.mark.parametrize("size", [PAGE, 50, 100], ids=["uneven", "even", "largest"])
async def test_backward_pages_list_products_in_the_forward_order(
    world: World, other_world: World, gql: GraphQLClient, size: int
) -> None:
    await build_catalog(world, other_world)

    forward = await walk(gql, world, sort_key="TITLE", size=size)
    backward = await walk(gql, world, sort_key="TITLE", size=size, backward=True)

    forward_ids = listed_ids(forward)
    assert listed_ids(backward, backward=True) == forward_ids
    assert listed_ids(backward[:1]) == forward_ids[-size:]
    assert listed_ids(backward[-1:]) == forward_ids[: len(backward[-1]["edges"])]
    assert len(forward) == len(backward) == -(-MATCHING // size)


@pytest.mark.parametrize("size", [PAGE, 50], ids=["uneven", "even"])
async def test_page_info_tells_where_the_ends_are(
    world: World, other_world: World, gql: GraphQLClient, size: int
) -> None:
    await build_catalog(world, other_world)

    forward = await walk(gql, world, sort_key="PRICE", size=size)
    backward = await walk(gql, world, sort_key="PRICE", size=size, backward=True)

    ends = {
        "forward first": forward[0]["pageInfo"],
        "forward last": forward[-1]["pageInfo"],
        "backward first": backward[0]["pageInfo"],
        "backward last": backward[-1]["pageInfo"],
    }
    assert {name: (i["hasPreviousPage"], i["hasNextPage"]) for name, i in ends.items()} == {
        "forward first": (False, True),
        "forward last": (True, False),
        "backward first": (True, False),
        "backward last": (False, True),
    }
    assert len(forward[-1]["edges"]) == (MATCHING % size or size)
    for page in forward + backward:
        assert page["pageInfo"]["startCursor"] == page["edges"][0]["cursor"]
        assert page["pageInfo"]["endCursor"] == page["edges"][-1]["cursor"]


async def test_a_page_after_the_last_one_is_empty_and_ends_the_list(
    world: World, gql: GraphQLClient
) -> None:
    await insert_products(world, [matching_spec(index) for index in range(10)])
    first = (await gql(LISTING, {"first": 10}, shop=world.handle)).ok()["products"]
    assert first["pageInfo"]["hasNextPage"] is False

    variables = {"first": 10, "after": first["pageInfo"]["endCursor"]}
    beyond = (await gql(LISTING, variables, shop=world.handle)).ok()["products"]

    assert beyond["edges"] == []
    assert beyond["pageInfo"] == {
        "hasNextPage": False,
        "hasPreviousPage": True,
        "startCursor": None,
        "endCursor": None,
    }


async def test_a_cursor_only_continues_the_order_that_made_it(
    world: World, gql: GraphQLClient
) -> None:
    for title in ("Zephyr one", "Zephyr two", "Zephyr three"):
        await world.product(title)
    listing = """query($after: String, $reverse: Boolean!, $q: String) {
        products(first: 1, after: $after, reverse: $reverse, filter: {query: $q}) { pageInfo { endCursor } } }"""
    page = (await gql(listing, {"reverse": False, "q": "zephyr"}, shop=world.handle)).ok()
    cursor = page["products"]["pageInfo"]["endCursor"]
    assert (
        await gql(listing, {"after": cursor, "reverse": False, "q": "zephyr"}, shop=world.handle)
    ).ok()
    for changed in ({"reverse": True, "q": "zephyr"}, {"reverse": False, "q": "one"}):
        result = await gql(listing, {"after": cursor, **changed}, shop=world.handle)
        assert result.codes == ["INVALID_CURSOR"]
