"""Product listing: filters and the sort keys, each a total order that keyset pagination can cut."""

from __future__ import annotations

import enum
import hashlib
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, case, exists, func, literal, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.goods.models import Category, InventoryLevel, Product, ProductStatus, Variant
from app.pagination import KeysetOrder, Page, PageRequest, fetch_page

__all__ = ["ProductFilter", "ProductSort", "product_order", "search_products"]


class ProductSort(enum.StrEnum):
    RELEVANCE = "RELEVANCE"
    PRICE = "PRICE"
    CREATED_AT = "CREATED_AT"
    TITLE = "TITLE"


@dataclass(frozen=True, slots=True)
class ProductFilter:
    category_id: int | None = None
    query: str | None = None
    price_min: int | None = None
    price_max: int | None = None
    in_stock: bool | None = None
    status: ProductStatus | None = None


def _like_pattern(text: str) -> str:
    escaped = text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


def _relevance(query: str | None) -> Any:
    """A whole-number score: exact title, then title prefix, then title word, then elsewhere."""
    if not query:
        return literal(0)
    text = query.strip().lower()
    title = func.lower(Product.title)
    escaped = _like_pattern(text)[1:-1]
    return case(
        (title == text, 3),
        (title.like(f"{escaped}%", escape="\\"), 2),
        (title.like(f"%{escaped}%", escape="\\"), 1),
        else_=0,
    )


def _parse_datetime(value: Any) -> datetime:
    return datetime.fromisoformat(value)


def product_order(sort: ProductSort, reverse: bool, query: str | None) -> KeysetOrder:
    """Each key has a natural direction (best match first, cheapest first, oldest first, A→Z)."""
    expression: Any
    if sort is ProductSort.RELEVANCE:
        expression, descending, decode = _relevance(query), True, int
    elif sort is ProductSort.PRICE:
        expression, descending, decode = func.coalesce(Product.price_min, -1), False, int
    elif sort is ProductSort.CREATED_AT:
        expression, descending, decode = Product.created_at, False, _parse_datetime
    else:
        expression, descending, decode = Product.title, False, str
    if reverse:
        descending = not descending
    # The name travels in the cursor: a cursor only continues the very order that made it.
    name = f"{sort.value}{':reverse' if reverse else ''}"
    if sort is ProductSort.RELEVANCE and query:
        name += ":" + hashlib.sha256(query.strip().lower().encode()).hexdigest()[:12]
    return KeysetOrder(name, expression, Product.id, descending, decode)


def _filtered(shop_id: int, spec: ProductFilter, *, include_unpublished: bool) -> Select[Any]:
    query = select(Product).where(Product.shop_id == shop_id)
    if not include_unpublished:
        query = query.where(Product.status == ProductStatus.ACTIVE)
    elif spec.status is not None:
        query = query.where(Product.status == spec.status)
    if spec.category_id is not None:
        tree = (
            select(Category.id)
            .where(Category.id == spec.category_id, Category.shop_id == shop_id)
            .cte("category_tree", recursive=True)
        )
        tree = tree.union_all(select(Category.id).where(Category.parent_id == tree.c.id))
        query = query.where(Product.category_id.in_(select(tree.c.id)))
    if spec.query:
        pattern = _like_pattern(spec.query.strip())
        query = query.where(
            func.lower(Product.title).like(pattern, escape="\\")
            | func.lower(Product.brand).like(pattern, escape="\\")
            | func.lower(Product.description).like(pattern, escape="\\")
        )
    if spec.price_min is not None or spec.price_max is not None:
        priced = exists().where(Variant.product_id == Product.id)
        if spec.price_min is not None:
            priced = priced.where(Variant.price_amount >= spec.price_min)
        if spec.price_max is not None:
            priced = priced.where(Variant.price_amount <= spec.price_max)
        query = query.where(priced)
    if spec.in_stock is not None:
        stocked = exists().where(
            Variant.product_id == Product.id,
            InventoryLevel.variant_id == Variant.id,
            InventoryLevel.on_hand > InventoryLevel.reserved,
        )
        query = query.where(stocked if spec.in_stock else ~stocked)
    return query


async def search_products(
    session: AsyncSession,
    shop_id: int,
    spec: ProductFilter,
    order: KeysetOrder,
    request: PageRequest,
    *,
    include_unpublished: bool,
) -> Page[Product]:
    query = _filtered(shop_id, spec, include_unpublished=include_unpublished)
    return await fetch_page(session, query, order, request)


async def count_products(
    session: AsyncSession, shop_id: int, spec: ProductFilter, *, include_unpublished: bool, cap: int
) -> int:
    """Counts at most ``cap`` rows, so a total never costs more than a bounded scan."""
    capped = (
        _filtered(shop_id, spec, include_unpublished=include_unpublished)
        .with_only_columns(Product.id)
        .limit(cap)
    )
    return int(await session.scalar(select(func.count()).select_from(capped.subquery())) or 0)
