"""A catalog built for listing tests: 500 matching products with many ties on every sort
key, look-alikes that must never be listed, and helpers to walk its pages."""

from __future__ import annotations

import string
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from app.goods.models import Product, ProductStatus, Variant
from tests.support.factories import World, gid, unique
from tests.support.graphql import GraphQLClient, GraphQLResult

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


def matching_spec(index: int) -> Spec:
    title = TITLES[index % len(TITLES)]
    return Spec(
        title=title,
        prices=PRICES[index % len(PRICES)],
        created_at=EPOCH + timedelta(seconds=index % 5, microseconds=(index % 3) * 250_000),
        description=f"For {WORD} evenings" if title == "Quiet lamp" else "",
        brand=f"{WORD.capitalize()}works" if title == "Still lamp" else "",
    )


def unmatched(spec: Spec) -> Spec:
    return replace(
        spec,
        title=spec.title.replace(WORD, "breeze").replace("Zephyr", "Breeze"),
        description="",
        brand="",
    )


async def insert_products(world: World, specs: Sequence[Spec]) -> list[int]:
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


async def build_catalog(world: World, other_world: World) -> Catalog:
    """500 active products matching ``WORD`` among look-alikes that must never be listed:
    the same titles, prices and times without the word, drafts and archived products with it,
    and matching products of another shop."""
    matching = [matching_spec(index) for index in range(MATCHING)]
    hidden = [unmatched(matching_spec(index)) for index in range(70)]
    hidden += [replace(matching_spec(index), status=ProductStatus.DRAFT) for index in range(30)]
    hidden += [replace(matching_spec(index), status=ProductStatus.ARCHIVED) for index in range(20)]
    ids = await insert_products(world, matching)
    await insert_products(world, hidden)
    await insert_products(other_world, [matching_spec(index) for index in range(30)])
    return Catalog(dict(zip(ids, matching, strict=True)))


async def walk(
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


def listed_ids(pages: Sequence[dict[str, Any]], *, backward: bool = False) -> list[str]:
    """The listing's items in list order, whichever way the pages were fetched."""
    in_order = reversed(pages) if backward else pages
    return [edge["node"]["id"] for page in in_order for edge in page["edges"]]


def twice(ids: Sequence[str]) -> list[str]:
    return [pk for pk, seen in Counter(ids).items() if seen > 1]


async def first_cursor(gql: GraphQLClient, world: World, sort_key: str) -> str:
    variables = {"first": 2, "sortKey": sort_key, "filter": {"query": WORD}}
    page = (await gql(LISTING, variables, shop=world.handle)).ok()["products"]
    return page["pageInfo"]["endCursor"]


def assert_refused(result: GraphQLResult, code: str) -> None:
    assert result.status == 200, result.body
    assert result.data is None, result.body
    assert result.codes == [code], result.body
