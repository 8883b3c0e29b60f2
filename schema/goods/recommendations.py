"""``Product.recommendations``: the shop's ``goods.recommendations`` extension, checked against
the catalog, else Agora's own list.

The marketplace calls the extension and checks the answer's shape
(``marketplace/extension_recommendations.py``); this layer, which may read goods, checks the
products themselves: every ID must be a ``Product`` of *this* shop that is active. One that is
not (another shop's, unknown, draft, archived) makes the whole answer ignored and recorded as
malformed through ``ExtensionCaller.reject``. The product itself is left out silently.

**Built-in list** (no extension, or its answer was ignored): the shop's other active products
in the product's category, newest first, then the shop's newest active products to fill up.

**Cost.** Recommendations for every product a request asks about go through one per-request
DataLoader, so a page of products costs the same statements as one product: at most one to
check the extensions' answers and one for the built-in lists (none for the extension lookup,
which ``ExtensionCaller`` caches). The extension calls themselves run side by side, at most
``CONCURRENT_CALLS`` at a time, behind the endpoint's circuit breaker.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from sqlalchemy import func, select, union
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from app.goods.models import Product as ProductRow
from app.goods.models import ProductStatus
from marketplace.extension_recommendations import MAX_RECOMMENDATIONS, ask_recommendations
from marketplace.extensions import Answer
from schema.errors import ApiErrorCode, api_error
from schema.node import encode_id, parse_id

if TYPE_CHECKING:
    from schema.goods.types import Product

__all__ = ["CONCURRENT_CALLS", "DEFAULT_FIRST", "MAX_RECOMMENDATIONS", "resolve_recommendations"]

CONCURRENT_CALLS = 10
DEFAULT_FIRST = 10
_LOADER_ATTRIBUTE = "_recommendations_loader"
Key = tuple[int, int, int]  # (shop id, product id, first)


async def resolve_recommendations(
    info: Info, product_pk: int, shop_id: int, first: int | None = DEFAULT_FIRST
) -> list[Product]:
    """Up to ``first`` (0-20; null means the default, 10) products to show beside
    ``product_pk``."""
    first = DEFAULT_FIRST if first is None else first
    if not 0 <= first <= MAX_RECOMMENDATIONS:
        raise api_error(
            ApiErrorCode.BAD_USER_INPUT,
            f"recommendations(first:) is 0 to {MAX_RECOMMENDATIONS}.",
            argument="first",
        )
    if first == 0:
        return []
    return await _loader(info).load((shop_id, product_pk, first))


def _loader(info: Info) -> DataLoader[Key, list[Product]]:
    """The request's loader, kept on its context (a new context per request)."""
    context = info.context
    loader = getattr(context, _LOADER_ATTRIBUTE, None)
    if loader is None:
        loader = DataLoader(load_fn=lambda keys: _load(context, keys))
        setattr(context, _LOADER_ATTRIBUTE, loader)
    return loader


async def _load(context: Any, keys: Sequence[Key]) -> list[list[Product]]:
    from schema.goods.types import Product  # types.py imports this module for its field

    shop = context.require_shop()
    answers = await _ask_extension(context, keys)
    rows = await _answered_rows(context, shop.id, answers)
    chosen: dict[Key, list[ProductRow]] = {}
    for key, answer in answers.items():
        products = await _checked(context, key, answer, rows)
        if products is not None:
            chosen[key] = products
    missing = [key for key in keys if key not in chosen]
    if missing:
        chosen |= await _built_in(context, shop.id, missing)
    return [[Product.of(row, shop.currency) for row in chosen[key]] for key in keys]


async def _ask_extension(context: Any, keys: Sequence[Key]) -> dict[Key, Answer[list[str]]]:
    extensions = context.services.extensions
    if extensions is None:  # a context made without the extension caller: built-in only
        return {}
    limit = asyncio.Semaphore(CONCURRENT_CALLS)

    async def ask(key: Key) -> Answer[list[str]] | None:
        shop_id, product_pk, first = key
        async with limit:
            return await ask_recommendations(
                extensions.caller, shop_id, str(encode_id("Product", product_pk)), first
            )

    found = await asyncio.gather(*(ask(key) for key in keys))
    return {key: answer for key, answer in zip(keys, found, strict=True) if answer is not None}


def _pk(global_id: str) -> int | None:
    parsed = parse_id(global_id)
    return parsed[1] if parsed is not None and parsed[0] == "Product" else None


async def _answered_rows(
    context: Any, shop_id: int, answers: dict[Key, Answer[list[str]]]
) -> dict[int, ProductRow]:
    """Every product the answers name, of this shop only (one statement)."""
    pks = {pk for answer in answers.values() for pk in map(_pk, answer.value) if pk is not None}
    if not pks:
        return {}
    async with context.db.reader() as session:
        found = await session.scalars(
            select(ProductRow).where(ProductRow.shop_id == shop_id, ProductRow.id.in_(pks))
        )
        return {row.id: row for row in found}


async def _checked(
    context: Any, key: Key, answer: Answer[list[str]], rows: dict[int, ProductRow]
) -> list[ProductRow] | None:
    """The answer's products in its order, or None after rejecting it."""
    _, product_pk, first = key
    products = []
    for index, global_id in enumerate(answer.value):
        pk = _pk(global_id)
        row = rows.get(pk) if pk is not None else None
        problem = None
        if pk is None:
            problem = "is not a Product ID"
        elif row is None:
            problem = "is not a product of this shop"
        elif row.status is not ProductStatus.ACTIVE:
            problem = f"is {row.status.value}, not active"
        if problem is not None:
            await context.services.extensions.caller.reject(
                answer, f"products.{index}: {global_id} {problem}"
            )
            return None
        if pk != product_pk:
            products.append(row)
    return products[:first]


def _newest_first(rows: Iterable[ProductRow]) -> list[ProductRow]:
    return sorted(rows, key=lambda row: (row.created_at, row.id), reverse=True)


def _built_in_query(shop_id: int, pks: Sequence[int], limit: int) -> Any:
    """One statement with everything the built-in lists need: the products asked about (for
    their categories), the ``limit + 1`` newest active products of each of their categories,
    and the ``2 * limit + 1`` newest active products of the shop (enough to fill up whatever
    the category gave, with the product itself left out)."""
    active = (ProductRow.shop_id == shop_id, ProductRow.status == ProductStatus.ACTIVE)
    newest_order = (ProductRow.created_at.desc(), ProductRow.id.desc())
    categories = select(ProductRow.category_id).where(
        ProductRow.shop_id == shop_id,
        ProductRow.id.in_(pks),
        ProductRow.category_id.is_not(None),
    )
    ranked = (
        select(
            ProductRow.id.label("id"),
            func.row_number()
            .over(partition_by=ProductRow.category_id, order_by=newest_order)
            .label("rank"),
        )
        .where(*active, ProductRow.category_id.in_(categories))
        .subquery()
    )
    newest = select(ProductRow.id.label("id")).where(*active).order_by(*newest_order)
    newest_ids = newest.limit(2 * limit + 1).subquery()
    ids = union(
        select(ProductRow.id.label("id")).where(
            ProductRow.shop_id == shop_id, ProductRow.id.in_(pks)
        ),
        select(ranked.c.id).where(ranked.c.rank <= limit + 1),
        select(newest_ids.c.id),
    ).subquery()
    return select(ProductRow).where(ProductRow.id.in_(select(ids.c.id)))


async def _built_in(context: Any, shop_id: int, keys: Sequence[Key]) -> dict[Key, list[ProductRow]]:
    limit = max(first for _, _, first in keys)
    pks = sorted({pk for _, pk, _ in keys})
    async with context.db.reader() as session:
        rows = list(await session.scalars(_built_in_query(shop_id, pks, limit)))
    by_id = {row.id: row for row in rows}
    active = _newest_first(row for row in rows if row.status is ProductStatus.ACTIVE)
    lists = {}
    for key in keys:
        _, pk, first = key
        product = by_id.get(pk)
        category = product.category_id if product is not None else None
        same = [r for r in active if category is not None and r.category_id == category]
        picked = [r for r in same if r.id != pk][:first]
        taken = {r.id for r in picked} | {pk}
        picked += [r for r in active if r.id not in taken][: first - len(picked)]
        lists[key] = picked
    return lists
