"""The product listing through HTTP: page-size and cursor refusals before any SQL, keyset walks
that visit every matching product exactly once for every sort key and direction (also while
products are being added), page info at both ends, storefront versus staff visibility and the
opt-in total count."""

from __future__ import annotations

import base64
import binascii
import random
import string
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from app.goods.models import Product, ProductStatus, Variant
from tests.support.factories import World, gid, unique
from tests.support.graphql import GraphQLClient, GraphQLResult
from tests.support.sql import StatementCounter

pytestmark = pytest.mark.anyio

WORD = "zephyr"
MATCHING = 500
PAGE = 37
SORT_KEYS = ("RELEVANCE", "PRICE", "CREATED_AT", "TITLE")
SHOP_LOOKUP_STATEMENTS = 1  # at most: each worker caches the shop after its first lookup
MAX_PAGES = 200
CURSOR_ALPHABET = string.ascii_letters + string.digits + "-_"

# Few distinct values of every sort key, so that most neighbours tie and the id decides.
# Titles are chosen to sort alike under byte order and linguistic collations.
TITLES = (
    "Zephyr",
    "Zephyr amber",
    "Zephyr birch",
    "Lamp zephyr",
    "Lamp with zephyr glass",
    "Quiet lamp",
    "Still lamp",
)
PRICES: tuple[tuple[int, ...], ...] = ((), (500,), (500, 900), (1250,), (1999,), (1999, 2500))
EPOCH = datetime(2024, 3, 1, 12, 0, tzinfo=UTC)

LISTING = """
query Listing(
  $first: Int, $after: String, $last: Int, $before: String, $filter: ProductFilterInput,
  $sortKey: ProductSortKeys! = RELEVANCE, $reverse: Boolean! = false
) {
  products(
    first: $first, after: $after, last: $last, before: $before, filter: $filter,
    sortKey: $sortKey, reverse: $reverse
  ) {
    edges { cursor node { id } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  }
}
"""

COUNTED = """
query Counted($first: Int, $filter: ProductFilterInput) {
  products(first: $first, filter: $filter) { totalCount edges { node { id } } }
}
"""

UNCOUNTED = """
query Uncounted($first: Int, $filter: ProductFilterInput) {
  products(first: $first, filter: $filter) { edges { node { id } } }
}
"""


@dataclass(frozen=True)
class Spec:
    """One product row as the test writes it; ``prices`` in minor units, empty for none."""

    title: str
    prices: tuple[int, ...]
    created_at: datetime
    description: str = ""
    brand: str = ""
    status: ProductStatus = ProductStatus.ACTIVE
    category_id: int | None = None

    @property
    def sort_price(self) -> int:
        return min(self.prices) if self.prices else -1

    @property
    def relevance(self) -> int:
        title = self.title.lower()
        if title == WORD:
            return 3
        if title.startswith(WORD):
            return 2
        return 1 if WORD in title else 0


@dataclass
class Catalog:
    """The products a listing filtered on ``WORD`` must show, by id, and their specs."""

    specs: dict[int, Spec] = field(default_factory=dict)

    def expected(self, sort_key: str, reverse: bool) -> list[str]:
        keys: dict[str, Callable[[int], Any]] = {
            "RELEVANCE": lambda pk: (self.specs[pk].relevance, pk),
            "PRICE": lambda pk: (self.specs[pk].sort_price, pk),
            "CREATED_AT": lambda pk: (self.specs[pk].created_at, pk),
            "TITLE": lambda pk: (self.specs[pk].title, pk),
        }
        descending = (sort_key == "RELEVANCE") != reverse
        ordered = sorted(self.specs, key=keys[sort_key], reverse=descending)
        return [gid("Product", pk) for pk in ordered]

    @property
    def ids(self) -> list[str]:
        return [gid("Product", pk) for pk in self.specs]


def _matching_spec(index: int) -> Spec:
    title = TITLES[index % len(TITLES)]
    return Spec(
        title=title,
        prices=PRICES[index % len(PRICES)],
        created_at=EPOCH + timedelta(seconds=index % 5, microseconds=(index % 3) * 250_000),
        description=f"For {WORD} evenings" if title == "Quiet lamp" else "",
        brand=f"{WORD.capitalize()}works" if title == "Still lamp" else "",
    )


def _unmatched(spec: Spec) -> Spec:
    return replace(
        spec,
        title=spec.title.replace(WORD, "breeze").replace("Zephyr", "Breeze"),
        description="",
        brand="",
    )


async def _insert(world: World, specs: Sequence[Spec]) -> list[int]:
    """Rows straight through the ORM in one transaction, price range kept as the service would."""
    async with world.services.db.writer() as session, session.begin():
        rows = [
            Product(
                shop_id=world.shop.id,
                handle=unique("p"),
                title=spec.title,
                description=spec.description,
                brand=spec.brand,
                status=spec.status,
                category_id=spec.category_id,
                option_names=["Size"] if len(spec.prices) > 1 else [],
                price_min=min(spec.prices) if spec.prices else None,
                price_max=max(spec.prices) if spec.prices else None,
                created_at=spec.created_at,
                updated_at=spec.created_at,
            )
            for spec in specs
        ]
        session.add_all(rows)
        await session.flush()
        session.add_all(
            Variant(
                shop_id=world.shop.id,
                product_id=row.id,
                sku=unique("SKU"),
                option_values=[f"S{position}"] if len(spec.prices) > 1 else [],
                price_amount=price,
                currency=world.shop.currency,
                position=position,
            )
            for row, spec in zip(rows, specs, strict=True)
            for position, price in enumerate(spec.prices)
        )
        return [row.id for row in rows]


async def _catalog(world: World, other_world: World) -> Catalog:
    """500 active products matching ``WORD`` among look-alikes that must never be listed:
    the same titles, prices and times without the word, drafts and archived products with it,
    and matching products of another shop."""
    matching = [_matching_spec(index) for index in range(MATCHING)]
    hidden = [_unmatched(_matching_spec(index)) for index in range(70)]
    hidden += [replace(_matching_spec(index), status=ProductStatus.DRAFT) for index in range(30)]
    hidden += [replace(_matching_spec(index), status=ProductStatus.ARCHIVED) for index in range(20)]
    ids = await _insert(world, matching)
    await _insert(world, hidden)
    await _insert(other_world, [_matching_spec(index) for index in range(30)])
    return Catalog(dict(zip(ids, matching, strict=True)))


async def _walk(
    gql: GraphQLClient,
    world: World,
    *,
    sort_key: str = "RELEVANCE",
    reverse: bool = False,
    backward: bool = False,
    size: int = PAGE,
    between_pages: Callable[[], Awaitable[None]] | None = None,
) -> list[dict[str, Any]]:
    """Every page of the ``WORD`` listing, in the order fetched: first/after from the start, or
    last/before from the end."""
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    while len(pages) < MAX_PAGES:
        variables: dict[str, Any] = {
            "filter": {"query": WORD},
            "sortKey": sort_key,
            "reverse": reverse,
            "last" if backward else "first": size,
            "before" if backward else "after": cursor,
        }
        page = (await gql(LISTING, variables, shop=world.handle)).ok()["products"]
        pages.append(page)
        info = page["pageInfo"]
        if not (info["hasPreviousPage"] if backward else info["hasNextPage"]):
            return pages
        cursor = info["startCursor"] if backward else info["endCursor"]
        if between_pages is not None:
            await between_pages()
    raise AssertionError(f"the walk did not end within {MAX_PAGES} pages")


def _ids(pages: Sequence[dict[str, Any]], *, backward: bool = False) -> list[str]:
    """The listing's items in list order, whichever way the pages were fetched."""
    in_order = reversed(pages) if backward else pages
    return [edge["node"]["id"] for page in in_order for edge in page["edges"]]


def _twice(ids: Sequence[str]) -> list[str]:
    return [pk for pk, seen in Counter(ids).items() if seen > 1]


async def _first_cursor(gql: GraphQLClient, world: World, sort_key: str) -> str:
    variables = {"first": 2, "sortKey": sort_key, "filter": {"query": WORD}}
    page = (await gql(LISTING, variables, shop=world.handle)).ok()["products"]
    return page["pageInfo"]["endCursor"]


def _assert_refused(result: GraphQLResult, code: str) -> None:
    assert result.status == 200, result.body
    assert result.data is None, result.body
    assert result.codes == [code], result.body


# 1. Page size


@pytest.mark.parametrize("argument", ["first", "last"])
async def test_a_page_of_101_is_refused_before_any_product_sql(
    world: World, gql: GraphQLClient, statements: StatementCounter, argument: str
) -> None:
    await world.product(f"{WORD} lamp")

    statements.reset()
    result = await gql(LISTING, {argument: 101}, shop=world.handle)

    _assert_refused(result, "PAGE_SIZE_EXCEEDED")
    assert result.errors[0]["extensions"]["maximum"] == 100
    assert result.errors[0]["path"] == ["products"]
    assert statements.count <= SHOP_LOOKUP_STATEMENTS, statements.statements
    assert not any("products" in sql for sql in statements.statements), statements.statements


@pytest.mark.parametrize("argument", ["first", "last"])
async def test_a_page_of_100_is_served(world: World, gql: GraphQLClient, argument: str) -> None:
    await _insert(world, [_matching_spec(index) for index in range(101)])

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
    await _insert(world, [_matching_spec(index) for index in range(5)])
    garbled = GARBLINGS[garbling](await _first_cursor(gql, world, "PRICE"))

    statements.reset()
    result = await gql(LISTING, {argument: garbled, "sortKey": "PRICE"}, shop=world.handle)

    _assert_refused(result, "INVALID_CURSOR")
    assert statements.count <= SHOP_LOOKUP_STATEMENTS, statements.statements


def _decodes_to(cursor: str) -> bytes | None:
    try:
        return base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
    except (ValueError, binascii.Error):
        return None


async def test_changing_any_one_character_of_a_cursor_makes_it_invalid(
    world: World, gql: GraphQLClient
) -> None:
    await _insert(world, [_matching_spec(index) for index in range(5)])
    valid = await _first_cursor(gql, world, "CREATED_AT")

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
    await _insert(world, [_matching_spec(index) for index in range(5)])
    cursor = await _first_cursor(gql, world, made_with)

    result = await gql(
        LISTING,
        {"after": cursor, "sortKey": used_with, "filter": {"query": WORD}},
        shop=world.handle,
    )

    _assert_refused(result, "INVALID_CURSOR")


async def test_a_cursor_of_another_sort_key_is_refused_going_backward(
    world: World, gql: GraphQLClient
) -> None:
    await _insert(world, [_matching_spec(index) for index in range(5)])
    cursor = await _first_cursor(gql, world, "TITLE")

    result = await gql(
        LISTING, {"before": cursor, "last": 2, "sortKey": "CREATED_AT"}, shop=world.handle
    )

    _assert_refused(result, "INVALID_CURSOR")


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
    catalog = await _catalog(world, other_world)

    pages = await _walk(gql, world, sort_key=sort_key, reverse=reverse, backward=backward)

    listed = _ids(pages, backward=backward)
    assert _twice(listed) == []
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
    catalog = await _catalog(world, other_world)
    chance = random.Random(f"{sort_key}-{reverse}-{backward}")
    added: list[int] = []

    async def add_look_alikes() -> None:
        specs = [_matching_spec(chance.randrange(MATCHING)) for _ in range(3)]
        specs.append(replace(specs[0], created_at=datetime.now(UTC)))
        added.extend(await _insert(world, specs))

    pages = await _walk(
        gql,
        world,
        sort_key=sort_key,
        reverse=reverse,
        backward=backward,
        between_pages=add_look_alikes,
    )

    listed = _ids(pages, backward=backward)
    assert added
    assert _twice(listed) == []
    assert set(catalog.ids) <= set(listed)
    assert set(listed) - set(catalog.ids) <= {gid("Product", pk) for pk in added}


# 5. Direction and page info


@pytest.mark.parametrize("size", [PAGE, 50, 100], ids=["uneven", "even", "largest"])
async def test_backward_pages_list_products_in_the_forward_order(
    world: World, other_world: World, gql: GraphQLClient, size: int
) -> None:
    await _catalog(world, other_world)

    forward = await _walk(gql, world, sort_key="TITLE", size=size)
    backward = await _walk(gql, world, sort_key="TITLE", size=size, backward=True)

    forward_ids = _ids(forward)
    assert _ids(backward, backward=True) == forward_ids
    assert _ids(backward[:1]) == forward_ids[-size:]
    assert _ids(backward[-1:]) == forward_ids[: len(backward[-1]["edges"])]
    assert len(forward) == len(backward) == -(-MATCHING // size)


@pytest.mark.parametrize("size", [PAGE, 50], ids=["uneven", "even"])
async def test_page_info_tells_where_the_ends_are(
    world: World, other_world: World, gql: GraphQLClient, size: int
) -> None:
    await _catalog(world, other_world)

    forward = await _walk(gql, world, sort_key="PRICE", size=size)
    backward = await _walk(gql, world, sort_key="PRICE", size=size, backward=True)

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
    await _insert(world, [_matching_spec(index) for index in range(10)])
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
    return set(_ids([page.ok()["products"]]))


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
    await _catalog(world, other_world)

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
    await _insert(world, [_matching_spec(index) for index in range(12)])
    variables = {"first": 5, "filter": {"query": WORD}}
    await gql("{ shop { name } }", shop=world.handle)  # the shop lookup is cached from here on

    statements.reset()
    (await gql(UNCOUNTED, variables, shop=world.handle)).ok()
    without = statements.count
    statements.reset()
    (await gql(COUNTED, variables, shop=world.handle)).ok()

    assert statements.count == without + 1, statements.statements
    assert "count(" in statements.statements[-1].lower()


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
