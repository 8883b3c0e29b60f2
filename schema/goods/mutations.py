"""Goods mutations, for the shop's business role. Each returns its object and ``errors``."""

from __future__ import annotations

from operator import attrgetter
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.errors import DomainError
from app.goods import categories, inventory, products
from app.goods import queries as goods_queries
from app.goods import variants as variant_service
from app.goods.errors import GoodsErrorCode
from app.goods.models import Category as CategoryRow
from app.goods.models import InventoryAdjustment as AdjustmentRow
from app.goods.models import Product as ProductRow
from app.goods.models import Variant as VariantRow
from app.goods.models import Warehouse as WarehouseRow
from app.goods.queries import StockedVariant
from schema.auditing import Audit, change_recorder, child_rows_state, row_state
from schema.errors import user_errors
from schema.goods.inputs import (
    CategoryInput,
    InventoryAdjustInput,
    ProductCreateInput,
    ProductUpdateInput,
    VariantCreateInput,
    VariantUpdateInput,
    WarehouseCreateInput,
)
from schema.goods.types import (
    Category,
    GoodsError,
    GoodsErrorCodeEnum,
    InventoryAdjustment,
    Product,
    ProductVariant,
    Warehouse,
)
from schema.permissions import requires
from schema.transactions import pk_or_refuse, write

__all__ = ["GoodsMutation"]


def _errors(error: DomainError | None) -> list[GoodsError]:
    return [] if error is None else user_errors(error, GoodsError, GoodsErrorCodeEnum)


@strawberry.type
class ProductPayload:
    product: Product | None
    errors: list[GoodsError]


@strawberry.type
class VariantsPayload:
    product: Product | None
    variants: list[ProductVariant]
    errors: list[GoodsError]


@strawberry.type
class VariantsDeletePayload:
    product: Product | None
    deleted_variant_ids: list[strawberry.ID]
    errors: list[GoodsError]


@strawberry.type
class CategoryPayload:
    category: Category | None
    errors: list[GoodsError]


@strawberry.type
class WarehousePayload:
    warehouse: Warehouse | None
    errors: list[GoodsError]


@strawberry.type
class InventoryAdjustPayload:
    adjustment: InventoryAdjustment | None
    variant: ProductVariant | None
    replayed: bool = strawberry.field(description="True when the idempotency key was seen before.")
    errors: list[GoodsError]


def _product_pk(global_id: strawberry.ID, argument: str = "productId") -> int:
    return pk_or_refuse(global_id, "Product", GoodsErrorCode.NOT_FOUND, argument)


WRITE_CATALOG = requires("catalog", "write")
# What each audit record keeps as the target's before and after state.
PRODUCT_STATE = row_state(ProductRow)
VARIANTS_STATE = child_rows_state(VariantRow.product_id, VariantRow.id)
CATEGORY_STATE = row_state(CategoryRow)


def _variants_audit(product_id: strawberry.ID) -> Audit[Any]:
    """Bulk variant changes are recorded on their product, with its variants before and after."""

    def product_key(result: Any) -> int:
        product = result[0] if isinstance(result, tuple) else result
        return int(product.pk)

    return Audit(
        "Product", VARIANTS_STATE, target=product_key, before=lambda: _product_pk(product_id)
    )


@strawberry.type
class GoodsMutation:
    @strawberry.mutation(extensions=WRITE_CATALOG)
    async def product_create(self, info: Info, input: ProductCreateInput) -> ProductPayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> Product:
            row = await products.create_product(session, shop, input.to_draft())
            return Product.of(row, shop.currency)

        product, error = await write(info, work, Audit("Product", PRODUCT_STATE))
        return ProductPayload(product=product, errors=_errors(error))

    @strawberry.mutation(extensions=WRITE_CATALOG)
    async def product_update(
        self, info: Info, id: strawberry.ID, input: ProductUpdateInput
    ) -> ProductPayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> Product:
            row = await products.update_product(
                session, shop.id, _product_pk(id, "id"), input.to_changes()
            )
            return Product.of(row, shop.currency)

        audit = Audit("Product", PRODUCT_STATE, before=lambda: _product_pk(id, "id"))
        product, error = await write(info, work, audit)
        return ProductPayload(product=product, errors=_errors(error))

    @strawberry.mutation(extensions=WRITE_CATALOG, description="Idempotent by state.")
    async def product_archive(self, info: Info, id: strawberry.ID) -> ProductPayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> Product:
            row = await products.archive_product(session, shop.id, _product_pk(id, "id"))
            return Product.of(row, shop.currency)

        audit = Audit("Product", PRODUCT_STATE, before=lambda: _product_pk(id, "id"))
        product, error = await write(info, work, audit)
        return ProductPayload(product=product, errors=_errors(error))

    @strawberry.mutation(extensions=WRITE_CATALOG, description="All or nothing.")
    async def product_variants_bulk_create(
        self, info: Info, product_id: strawberry.ID, variants: list[VariantCreateInput]
    ) -> VariantsPayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> tuple[Product, list[ProductVariant]]:
            product = await products.load_product(
                session, shop.id, _product_pk(product_id), "productId"
            )
            drafts = [v.to_draft() for v in variants]
            rows = await variant_service.create_variants(session, shop, product, drafts)
            return Product.of(product, shop.currency), [
                ProductVariant.of(StockedVariant(r, 0)) for r in rows
            ]

        result, error = await write(info, work, _variants_audit(product_id))
        product, created = result or (None, [])
        return VariantsPayload(product=product, variants=created, errors=_errors(error))

    @strawberry.mutation(extensions=WRITE_CATALOG, description="All or nothing.")
    async def product_variants_bulk_update(
        self, info: Info, product_id: strawberry.ID, variants: list[VariantUpdateInput]
    ) -> VariantsPayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> tuple[Product, list[int]]:
            product = await products.load_product(
                session, shop.id, _product_pk(product_id), "productId"
            )
            changes = [v.to_changes(i) for i, v in enumerate(variants)]
            rows = await variant_service.update_variants(session, shop, product, changes)
            return Product.of(product, shop.currency), [r.id for r in rows]

        result, error = await write(info, work, _variants_audit(product_id))
        if result is None:
            return VariantsPayload(product=None, variants=[], errors=_errors(error))
        product, ids = result
        stocked = await info.context.loaders.variants.load(product.pk)
        by_id = {s.variant.id: s for s in stocked}
        return VariantsPayload(
            product=product, variants=[ProductVariant.of(by_id[i]) for i in ids], errors=[]
        )

    @strawberry.mutation(extensions=WRITE_CATALOG, description="All or nothing.")
    async def product_variants_bulk_delete(
        self, info: Info, product_id: strawberry.ID, variant_ids: list[strawberry.ID]
    ) -> VariantsDeletePayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> Product:
            product = await products.load_product(
                session, shop.id, _product_pk(product_id), "productId"
            )
            pks = [
                pk_or_refuse(v, "ProductVariant", GoodsErrorCode.NOT_FOUND, "variantIds", str(i))
                for i, v in enumerate(variant_ids)
            ]
            await variant_service.delete_variants(session, product, pks)
            return Product.of(product, shop.currency)

        product, error = await write(info, work, _variants_audit(product_id))
        return VariantsDeletePayload(
            product=product,
            deleted_variant_ids=list(variant_ids) if error is None else [],
            errors=_errors(error),
        )

    @strawberry.mutation(extensions=WRITE_CATALOG)
    async def category_create(self, info: Info, input: CategoryInput) -> CategoryPayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> Category:
            if input.name in (None, strawberry.UNSET):
                raise DomainError.one(
                    GoodsErrorCode.REQUIRED, "A category needs a name.", "input", "name"
                )
            parent = None
            if input.parent_id not in (None, strawberry.UNSET):
                parent = pk_or_refuse(
                    input.parent_id, "Category", GoodsErrorCode.NOT_FOUND, "input", "parentId"
                )
            handle = None if input.handle is strawberry.UNSET else input.handle
            row = await categories.create_category(
                session, shop.id, name=input.name, handle=handle, parent_id=parent
            )
            return Category.of(row)

        category, error = await write(info, work, Audit("Category", CATEGORY_STATE))
        return CategoryPayload(category=category, errors=_errors(error))

    @strawberry.mutation(extensions=WRITE_CATALOG, description="parentId: null makes it a root.")
    async def category_update(
        self, info: Info, id: strawberry.ID, input: CategoryInput
    ) -> CategoryPayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> Category:
            pk = pk_or_refuse(id, "Category", GoodsErrorCode.NOT_FOUND, "id")
            parent = None
            if input.parent_id not in (None, strawberry.UNSET):
                parent = pk_or_refuse(
                    input.parent_id, "Category", GoodsErrorCode.NOT_FOUND, "input", "parentId"
                )
            changes = categories.CategoryChanges(
                name=None if input.name is strawberry.UNSET else input.name,
                handle=None if input.handle is strawberry.UNSET else input.handle,
                parent_id=parent,
                detach=input.parent_id is None,
            )
            return Category.of(await categories.update_category(session, shop.id, pk, changes))

        audit = Audit(
            "Category",
            CATEGORY_STATE,
            before=lambda: pk_or_refuse(id, "Category", GoodsErrorCode.NOT_FOUND, "id"),
        )
        category, error = await write(info, work, audit)
        return CategoryPayload(category=category, errors=_errors(error))

    @strawberry.mutation(extensions=requires("inventory", "write"))
    async def warehouse_create(
        self, info: Info, input: WarehouseCreateInput
    ) -> WarehousePayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> Warehouse:
            row = await inventory.create_warehouse(
                session, shop.id, code=input.code, name=input.name, country_code=input.country_code
            )
            return Warehouse.of(row)

        audit = Audit("Warehouse", row_state(WarehouseRow))
        warehouse, error = await write(info, work, audit)
        return WarehousePayload(warehouse=warehouse, errors=_errors(error))

    @strawberry.mutation(
        extensions=requires("inventory", "write"),
        description=(
            "Never takes stock below what is reserved; may set the low-stock threshold too. "
            "Replays return the first result."
        ),
    )
    async def inventory_adjust(
        self, info: Info, input: InventoryAdjustInput
    ) -> InventoryAdjustPayload | None:
        context = info.context
        shop = context.require_shop()
        principal = context.principal

        try:
            variant_pk = pk_or_refuse(
                input.variant_id, "ProductVariant", GoodsErrorCode.NOT_FOUND, "input", "variantId"
            )
            adjustment_id, replayed = await inventory.adjust_inventory_once(
                context.db.writer,
                shop.id,
                key=input.idempotency_key,
                variant_id=variant_pk,
                warehouse_id=pk_or_refuse(
                    input.warehouse_id,
                    "Warehouse",
                    GoodsErrorCode.NOT_FOUND,
                    "input",
                    "warehouseId",
                ),
                delta=input.delta,
                reason=input.reason,
                actor=principal.subject if principal else "",
                low_stock_threshold=input.low_stock_threshold,
                on_adjusted=change_recorder(
                    info,
                    Audit("InventoryAdjustment", row_state(AdjustmentRow), target=attrgetter("id")),
                ),
            )
        except DomainError as error:
            return InventoryAdjustPayload(
                adjustment=None, variant=None, replayed=False, errors=_errors(error)
            )
        async with context.db.reader() as session:
            row = await session.get(AdjustmentRow, adjustment_id)
            stocked = await goods_queries.stocked_variants_by_id(
                session, shop.id, [variant_pk], include_unpublished=True
            )
        variant = ProductVariant.of(stocked[variant_pk]) if variant_pk in stocked else None
        return InventoryAdjustPayload(
            adjustment=InventoryAdjustment.of(row), variant=variant, replayed=replayed, errors=[]
        )
