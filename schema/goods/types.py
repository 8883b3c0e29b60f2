"""Goods object types. Scalars are plain attributes (sync, cheap on long lists); relations
resolve through the request's loaders."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime
from functools import lru_cache
from typing import Annotated, Any

import strawberry
from strawberry.types import Info

from app.goods import models
from app.goods.errors import GoodsErrorCode
from app.goods.queries import StockedVariant
from schema.errors import UserError
from schema.goods.recommendations import DEFAULT_FIRST, resolve_recommendations
from schema.money import Money
from schema.node import Node, encode_id
from schema.permissions import requires

__all__ = [
    "Category",
    "GoodsError",
    "InventoryAdjustment",
    "InventoryLevel",
    "PriceRange",
    "Product",
    "ProductImage",
    "ProductStatus",
    "ProductVariant",
    "SelectedOption",
    "Warehouse",
]

ProductStatus = strawberry.enum(models.ProductStatus, name="ProductStatus")
GoodsErrorCodeEnum = strawberry.enum(GoodsErrorCode, name="GoodsErrorCode")


@strawberry.type
class GoodsError(UserError):
    code: GoodsErrorCodeEnum  # type: ignore[valid-type]


@strawberry.type
class Category(Node):
    handle: str
    name: str
    pk: strawberry.Private[int]
    parent_pk: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: models.Category) -> Category:
        return cls(
            id=encode_id("Category", row.id),
            handle=row.handle,
            name=row.name,
            pk=row.id,
            parent_pk=row.parent_id,
        )

    @strawberry.field
    async def parent(self, info: Info) -> Category | None:
        if self.parent_pk is None:
            return None
        row = await info.context.loaders.category.load(self.parent_pk)
        return Category.of(row) if row else None

    @strawberry.field
    async def children(self, info: Info) -> list[Category]:
        return [Category.of(r) for r in await info.context.loaders.child_categories.load(self.pk)]


@strawberry.type
class ProductImage:
    url: str
    alt_text: str
    position: int


@strawberry.type
class PriceRange:
    min: Money
    max: Money


@strawberry.type
class SelectedOption:
    name: str
    value: str


@strawberry.type
class Warehouse(Node):
    code: str
    name: str
    country_code: str

    @classmethod
    def of(cls, row: models.Warehouse) -> Warehouse:
        return cls(
            id=encode_id("Warehouse", row.id),
            code=row.code,
            name=row.name,
            country_code=row.country_code,
        )


@strawberry.type
class InventoryLevel:
    on_hand: int
    reserved: int
    available: int
    low_stock_threshold: int = strawberry.field(
        description="inventory/below_threshold fires when available falls below this; 0: never."
    )
    warehouse_pk: strawberry.Private[int]

    @classmethod
    def of(cls, row: models.InventoryLevel) -> InventoryLevel:
        return cls(
            on_hand=row.on_hand,
            reserved=row.reserved,
            available=row.on_hand - row.reserved,
            low_stock_threshold=row.low_stock_threshold,
            warehouse_pk=row.warehouse_id,
        )

    @strawberry.field
    async def warehouse(self, info: Info) -> Warehouse:
        row = await info.context.loaders.warehouse.load(self.warehouse_pk)
        return Warehouse.of(row)


@strawberry.type
class ProductVariant(Node):
    sku: str
    price: Money
    compare_at_price: Money | None
    weight_grams: int
    quantity_available: int = strawberry.field(
        description="On hand minus reserved, summed over warehouses; computed in SQL."
    )
    option_values: strawberry.Private[list[str]]
    pk: strawberry.Private[int]
    product_pk: strawberry.Private[int]

    @classmethod
    def of(cls, stocked: StockedVariant) -> ProductVariant:
        row = stocked.variant
        return cls(
            id=encode_id("ProductVariant", row.id),
            sku=row.sku,
            price=_money(row.price_amount, row.currency),
            compare_at_price=(
                _money(row.compare_at_amount, row.currency)
                if row.compare_at_amount is not None
                else None
            ),
            weight_grams=row.weight_grams,
            quantity_available=stocked.quantity_available,
            option_values=row.option_values,
            pk=row.id,
            product_pk=row.product_id,
        )

    @strawberry.field
    async def product(
        self, info: Info
    ) -> Annotated[Product, strawberry.lazy("schema.goods.types")]:
        row = await info.context.loaders.product.load(self.product_pk)
        return Product.of(row, info.context.require_shop().currency)

    @strawberry.field
    async def selected_options(self, info: Info) -> list[SelectedOption]:
        row = await info.context.loaders.product.load(self.product_pk)
        return [
            SelectedOption(name=n, value=v)
            for n, v in zip(row.option_names, self.option_values, strict=False)
        ]

    @strawberry.field(
        description="Stock per warehouse; for the shop's staff.",
        extensions=requires("inventory", "read"),
    )
    async def inventory_levels(self, info: Info) -> list[InventoryLevel]:
        return [
            InventoryLevel.of(r) for r in await info.context.loaders.inventory_levels.load(self.pk)
        ]


@strawberry.type
class Product(Node):
    handle: str
    title: str
    description: str
    status: ProductStatus  # type: ignore[valid-type]
    brand: str
    option_names: list[str]
    created_at: datetime
    updated_at: datetime
    price_range: PriceRange | None = strawberry.field(
        description="Cheapest and dearest variant; null while the product has no variants."
    )
    pk: strawberry.Private[int]
    category_pk: strawberry.Private[int | None]

    @classmethod
    def of(
        cls, row: models.Product, currency: str, preloaded: dict[str, Any] | None = None
    ) -> Product:
        price_range = None
        if row.price_min is not None and row.price_max is not None:
            price_range = PriceRange(
                min=_money(row.price_min, currency), max=_money(row.price_max, currency)
            )
        return cls(
            id=encode_id("Product", row.id),
            handle=row.handle,
            title=row.title,
            description=row.description,
            status=row.status,
            brand=row.brand,
            option_names=row.option_names,
            created_at=row.created_at,
            updated_at=row.updated_at,
            price_range=price_range,
            pk=row.id,
            category_pk=row.category_id,
            preloaded=preloaded or {},
        )

    # Filled by a parent resolver that bulk-loaded these relations for a whole page (see
    # schema/goods/preload.py): the fields below then answer synchronously, which on long lists
    # costs far less than an awaited loader call per item. Anywhere else they use the loaders.
    preloaded: strawberry.Private[dict[str, Any]] = dataclasses.field(default_factory=dict)

    @strawberry.field
    def category(self, info: Info) -> Category | None:
        if self.category_pk is None:
            return None
        if "category" in self.preloaded:
            row = self.preloaded["category"]
            return Category.of(row) if row else None
        return _category_later(info, self.category_pk)  # type: ignore[return-value]

    @strawberry.field
    def images(self, info: Info) -> list[ProductImage]:
        if "images" in self.preloaded:
            return _images(self.preloaded["images"])
        return _images_later(info, self.pk)  # type: ignore[return-value]

    @strawberry.field
    def variants(self, info: Info) -> list[ProductVariant]:
        if "variants" in self.preloaded:
            return [ProductVariant.of(v) for v in self.preloaded["variants"]]
        return _variants_later(info, self.pk)  # type: ignore[return-value]

    @strawberry.field(description="Whether any variant has sellable stock; computed in SQL.")
    def available(self, info: Info) -> bool:
        if "available" in self.preloaded:
            return bool(self.preloaded["available"])
        return info.context.loaders.available.load(self.pk)  # type: ignore[no-any-return]

    @strawberry.field(
        description=(
            "Products to show beside this one: the shop's recommendations extension when it"
            " answers in time and in shape, else the same category's newest, then the shop's."
        )
    )
    async def recommendations(self, info: Info, first: int | None = DEFAULT_FIRST) -> list[Product]:
        shop = info.context.require_shop()
        return await resolve_recommendations(info, self.pk, shop.id, first)


@lru_cache(maxsize=4096)
def _amount(minor_units: int, currency: str) -> str:
    """The decimal string of an amount, cached: a listing formats hundreds of prices through
    ``Decimal`` per request, and a catalog has far fewer distinct prices than that."""
    return Money.of(minor_units, currency).amount


def _money(minor_units: int, currency: str) -> Money:
    """``Money.of``, with the formatting cached; a fresh object each time, never shared."""
    return Money(amount=_amount(minor_units, currency), currency_code=currency)


def _images(rows: Sequence[Any]) -> list[ProductImage]:
    return [ProductImage(url=r.url, alt_text=r.alt_text, position=r.position) for r in rows]


async def _category_later(info: Info, pk: int) -> Category | None:
    row = await info.context.loaders.category.load(pk)
    return Category.of(row) if row else None


async def _images_later(info: Info, pk: int) -> list[ProductImage]:
    return _images(await info.context.loaders.images.load(pk))


async def _variants_later(info: Info, pk: int) -> list[ProductVariant]:
    return [ProductVariant.of(v) for v in await info.context.loaders.variants.load(pk)]


@strawberry.type
class InventoryAdjustment(Node):
    delta: int
    on_hand_after: int
    reason: str
    created_at: datetime

    @classmethod
    def of(cls, row: models.InventoryAdjustment) -> InventoryAdjustment:
        return cls(
            id=encode_id("InventoryAdjustment", row.id),
            delta=row.delta,
            on_hand_after=row.on_hand_after,
            reason=row.reason,
            created_at=row.created_at,
        )
