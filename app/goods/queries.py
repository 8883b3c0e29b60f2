"""Bulk reads behind the GraphQL loaders: each takes many keys and costs one statement."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any, NamedTuple, Protocol

from sqlalchemy import Row, exists, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.goods.models import (
    Category,
    InventoryLevel,
    Product,
    ProductImage,
    ProductStatus,
    Variant,
    Warehouse,
)

__all__ = [
    "StockedVariant",
    "VariantColumns",
    "availability_by_product",
    "categories_by_id",
    "categories_by_parent",
    "category_rows_by_id",
    "image_rows_by_product",
    "images_by_product",
    "inventory_levels_by_variant",
    "products_by_id",
    "root_categories",
    "stocked_variant_rows_by_product",
    "stocked_variants_by_id",
    "stocked_variants_by_product",
    "warehouses_by_id",
]


class VariantColumns(Protocol):
    """What readers of a variant use: an ORM ``Variant``, or a Core row of these columns."""

    id: int
    product_id: int
    sku: str
    option_values: list[str]
    price_amount: int
    compare_at_amount: int | None
    currency: str
    weight_grams: int


class StockedVariant(NamedTuple):
    """A variant with its sellable quantity (on hand minus reserved, over all warehouses).

    A named tuple rather than a frozen dataclass: as immutable, and built in C, which counts on
    a listing that makes hundreds of them per request.
    """

    variant: VariantColumns
    quantity_available: int


def sellable() -> object:
    return func.coalesce(
        select(func.sum(InventoryLevel.on_hand - InventoryLevel.reserved))
        .where(InventoryLevel.variant_id == Variant.id)
        .correlate(Variant)
        .scalar_subquery(),
        0,
    )


async def categories_by_id(
    session: AsyncSession, shop_id: int, ids: Sequence[int]
) -> dict[int, Category]:
    rows = await session.scalars(
        select(Category).where(Category.shop_id == shop_id, Category.id.in_(ids))
    )
    return {c.id: c for c in rows}


async def categories_by_parent(
    session: AsyncSession, shop_id: int, parent_ids: Sequence[int]
) -> dict[int, list[Category]]:
    rows = await session.scalars(
        select(Category)
        .where(Category.shop_id == shop_id, Category.parent_id.in_(parent_ids))
        .order_by(Category.name, Category.id)
    )
    grouped: dict[int, list[Category]] = defaultdict(list)
    for category in rows:
        grouped[category.parent_id].append(category)  # type: ignore[index]
    return grouped


async def root_categories(session: AsyncSession, shop_id: int) -> list[Category]:
    rows = await session.scalars(
        select(Category)
        .where(Category.shop_id == shop_id, Category.parent_id.is_(None))
        .order_by(Category.name, Category.id)
    )
    return list(rows)


async def products_by_id(
    session: AsyncSession, shop_id: int, ids: Sequence[int], *, include_unpublished: bool
) -> dict[int, Product]:
    query = select(Product).where(Product.shop_id == shop_id, Product.id.in_(ids))
    if not include_unpublished:
        query = query.where(Product.status == ProductStatus.ACTIVE)
    return {p.id: p for p in await session.scalars(query)}


async def images_by_product(
    session: AsyncSession, product_ids: Sequence[int]
) -> dict[int, list[ProductImage]]:
    rows = await session.scalars(
        select(ProductImage)
        .where(ProductImage.product_id.in_(product_ids))
        .order_by(ProductImage.product_id, ProductImage.position)
    )
    grouped: dict[int, list[ProductImage]] = defaultdict(list)
    for image in rows:
        grouped[image.product_id].append(image)
    return grouped


async def stocked_variants_by_product(
    session: AsyncSession, product_ids: Sequence[int]
) -> dict[int, list[StockedVariant]]:
    rows = await session.execute(
        select(Variant, sellable())
        .where(Variant.product_id.in_(product_ids))
        .order_by(Variant.product_id, Variant.position, Variant.id)
    )
    grouped: dict[int, list[StockedVariant]] = defaultdict(list)
    for variant, quantity in rows:
        grouped[variant.product_id].append(StockedVariant(variant, int(quantity)))
    return grouped


async def stocked_variants_by_id(
    session: AsyncSession, shop_id: int, ids: Sequence[int], *, include_unpublished: bool
) -> dict[int, StockedVariant]:
    query = (
        select(Variant, sellable())
        .join(Product, Product.id == Variant.product_id)
        .where(Variant.shop_id == shop_id, Variant.id.in_(ids))
    )
    if not include_unpublished:
        query = query.where(Product.status == ProductStatus.ACTIVE)
    return {v.id: StockedVariant(v, int(q)) for v, q in await session.execute(query)}


async def availability_by_product(
    session: AsyncSession, product_ids: Sequence[int]
) -> dict[int, bool]:
    in_stock = (
        exists()
        .where(
            InventoryLevel.variant_id == Variant.id,
            InventoryLevel.on_hand > InventoryLevel.reserved,
        )
        .correlate(Variant)
    )
    rows = await session.scalars(
        select(Variant.product_id).where(Variant.product_id.in_(product_ids), in_stock).distinct()
    )
    available = set(rows)
    return {pid: pid in available for pid in product_ids}


async def warehouses_by_id(
    session: AsyncSession, shop_id: int, ids: Sequence[int]
) -> dict[int, Warehouse]:
    rows = await session.scalars(
        select(Warehouse).where(Warehouse.shop_id == shop_id, Warehouse.id.in_(ids))
    )
    return {w.id: w for w in rows}


async def inventory_levels_by_variant(
    session: AsyncSession, variant_ids: Sequence[int]
) -> dict[int, list[InventoryLevel]]:
    rows = await session.scalars(
        select(InventoryLevel)
        .where(InventoryLevel.variant_id.in_(variant_ids))
        .order_by(InventoryLevel.variant_id, InventoryLevel.warehouse_id)
    )
    grouped: dict[int, list[InventoryLevel]] = defaultdict(list)
    for level in rows:
        grouped[level.variant_id].append(level)
    return grouped


# Read-only listing path: plain Core rows of the columns the schema shows. A page of products
# brings hundreds of images and variants; as rows they skip the ORM's identity map and
# per-instance state, which on a 50-product listing is a good part of the database time.
_VARIANT_COLUMNS = (
    Variant.id,
    Variant.product_id,
    Variant.sku,
    Variant.option_values,
    Variant.price_amount,
    Variant.compare_at_amount,
    Variant.currency,
    Variant.weight_grams,
)


async def category_rows_by_id(
    session: AsyncSession, shop_id: int, ids: Sequence[int]
) -> dict[int, Row[Any]]:
    """``categories_by_id`` as rows: id, handle, name and parent_id."""
    rows = await session.execute(
        select(Category.id, Category.handle, Category.name, Category.parent_id).where(
            Category.shop_id == shop_id, Category.id.in_(ids)
        )
    )
    return {row.id: row for row in rows}


async def image_rows_by_product(
    session: AsyncSession, product_ids: Sequence[int]
) -> dict[int, list[Row[Any]]]:
    """``images_by_product`` as rows: url, alt_text and position, in position order."""
    rows = await session.execute(
        select(
            ProductImage.product_id, ProductImage.url, ProductImage.alt_text, ProductImage.position
        )
        .where(ProductImage.product_id.in_(product_ids))
        .order_by(ProductImage.product_id, ProductImage.position)
    )
    grouped: dict[int, list[Row[Any]]] = defaultdict(list)
    for image in rows:
        grouped[image.product_id].append(image)
    return grouped


async def stocked_variant_rows_by_product(
    session: AsyncSession, product_ids: Sequence[int]
) -> dict[int, list[StockedVariant]]:
    """``stocked_variants_by_product`` with each variant a row of ``VariantColumns``."""
    rows = await session.execute(
        select(*_VARIANT_COLUMNS, sellable().label("sellable"))  # type: ignore[call-overload]
        .where(Variant.product_id.in_(product_ids))
        .order_by(Variant.product_id, Variant.position, Variant.id)
    )
    grouped: dict[int, list[StockedVariant]] = defaultdict(list)
    for row in rows:
        grouped[row.product_id].append(StockedVariant(row, int(row.sellable)))
    return grouped
