"""Goods mutation inputs and their translation into the domain's drafts."""

from __future__ import annotations

import strawberry

from app.goods.errors import GoodsErrorCode
from app.goods.inventory import AdjustmentReason
from app.goods.products import ImageDraft, ProductChanges, ProductDraft
from app.goods.variants import PriceInput, VariantChanges, VariantDraft
from schema.goods.types import ProductStatus
from schema.money import MoneyInput
from schema.transactions import pk_or_refuse

__all__ = [
    "CategoryInput",
    "ImageInput",
    "InventoryAdjustInput",
    "ProductCreateInput",
    "ProductUpdateInput",
    "VariantCreateInput",
    "VariantUpdateInput",
    "WarehouseCreateInput",
]

InventoryAdjustmentReason = strawberry.enum(AdjustmentReason, name="InventoryAdjustmentReason")


def _price(value: MoneyInput | None) -> PriceInput | None:
    return None if value is None else PriceInput(value.amount, value.currency_code)


@strawberry.input
class ImageInput:
    url: str
    alt_text: str = ""


@strawberry.input
class VariantCreateInput:
    sku: str
    price: MoneyInput
    option_values: list[str] = strawberry.field(default_factory=list)
    compare_at_price: MoneyInput | None = None
    weight_grams: int = 0

    def to_draft(self) -> VariantDraft:
        return VariantDraft(
            sku=self.sku,
            price=PriceInput(self.price.amount, self.price.currency_code),
            option_values=tuple(self.option_values),
            compare_at_price=_price(self.compare_at_price),
            weight_grams=self.weight_grams,
        )


@strawberry.input(description="Fields left out are kept; compareAtPrice: null clears it.")
class VariantUpdateInput:
    id: strawberry.ID
    sku: str | None = strawberry.UNSET
    price: MoneyInput | None = strawberry.UNSET
    option_values: list[str] | None = strawberry.UNSET
    compare_at_price: MoneyInput | None = strawberry.UNSET
    weight_grams: int | None = strawberry.UNSET

    def to_changes(self, index: int) -> VariantChanges:
        def given(value: object) -> object:
            return None if value is strawberry.UNSET else value

        return VariantChanges(
            id=pk_or_refuse(
                self.id, "ProductVariant", GoodsErrorCode.NOT_FOUND, "variants", str(index), "id"
            ),
            sku=given(self.sku),  # type: ignore[arg-type]
            price=_price(given(self.price)),  # type: ignore[arg-type]
            option_values=given(self.option_values),  # type: ignore[arg-type]
            compare_at_price=_price(given(self.compare_at_price)),  # type: ignore[arg-type]
            clear_compare_at_price=self.compare_at_price is None,
            weight_grams=given(self.weight_grams),  # type: ignore[arg-type]
        )


@strawberry.input
class ProductCreateInput:
    title: str
    handle: str | None = None
    description: str = ""
    status: ProductStatus = ProductStatus.DRAFT  # type: ignore[valid-type]
    category_id: strawberry.ID | None = None
    brand: str = ""
    option_names: list[str] = strawberry.field(default_factory=list)
    images: list[ImageInput] = strawberry.field(default_factory=list)
    variants: list[VariantCreateInput] = strawberry.field(default_factory=list)

    def to_draft(self) -> ProductDraft:
        category = None
        if self.category_id is not None:
            category = pk_or_refuse(
                self.category_id, "Category", GoodsErrorCode.NOT_FOUND, "input", "categoryId"
            )
        return ProductDraft(
            title=self.title,
            handle=self.handle,
            description=self.description,
            status=self.status,
            category_id=category,
            brand=self.brand,
            option_names=tuple(self.option_names),
            images=tuple(ImageDraft(i.url, i.alt_text) for i in self.images),
            variants=tuple(v.to_draft() for v in self.variants),
        )


@strawberry.input(description="Fields left out are kept; categoryId: null clears the category.")
class ProductUpdateInput:
    title: str | None = strawberry.UNSET
    handle: str | None = strawberry.UNSET
    description: str | None = strawberry.UNSET
    status: ProductStatus | None = strawberry.UNSET  # type: ignore[valid-type]
    category_id: strawberry.ID | None = strawberry.UNSET
    brand: str | None = strawberry.UNSET
    images: list[ImageInput] | None = strawberry.UNSET

    def to_changes(self) -> ProductChanges:
        def given(value: object) -> object:
            return None if value is strawberry.UNSET else value

        category = None
        if self.category_id not in (None, strawberry.UNSET):
            category = pk_or_refuse(
                self.category_id, "Category", GoodsErrorCode.NOT_FOUND, "input", "categoryId"
            )
        images = given(self.images)
        return ProductChanges(
            title=given(self.title),  # type: ignore[arg-type]
            handle=given(self.handle),  # type: ignore[arg-type]
            description=given(self.description),  # type: ignore[arg-type]
            status=given(self.status),  # type: ignore[arg-type]
            category_id=category,
            clear_category=self.category_id is None,
            brand=given(self.brand),  # type: ignore[arg-type]
            images=None if images is None else tuple(ImageDraft(i.url, i.alt_text) for i in images),  # type: ignore[attr-defined]
        )


@strawberry.input
class CategoryInput:
    name: str | None = strawberry.UNSET
    handle: str | None = strawberry.UNSET
    parent_id: strawberry.ID | None = strawberry.UNSET


@strawberry.input
class WarehouseCreateInput:
    code: str
    name: str
    country_code: str = ""


@strawberry.input
class InventoryAdjustInput:
    variant_id: strawberry.ID
    warehouse_id: strawberry.ID
    delta: int = strawberry.field(
        description="Units to add (positive) or remove (negative); 0 only with lowStockThreshold."
    )
    reason: InventoryAdjustmentReason  # type: ignore[valid-type]
    idempotency_key: str = strawberry.field(
        description="Unique per adjustment; a replay returns the first result."
    )
    low_stock_threshold: int | None = strawberry.field(
        default=None,
        description="Sets the level's low-stock threshold (0 turns the alert off); left out, kept.",
    )
