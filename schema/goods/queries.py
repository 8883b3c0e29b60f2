"""Goods queries: the category tree, products by id or handle, and the product listing."""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy import Select, select
from strawberry.types import Info

from app.goods import queries
from app.goods.models import Category as CategoryRow
from app.goods.models import Product as ProductRow
from app.goods.search import (
    ProductFilter,
    ProductSort,
    count_products,
    product_order,
    search_products,
)
from app.money import MoneyError, parse_amount
from schema.errors import ApiErrorCode, api_error
from schema.goods.preload import preload_relations, selected_on_object
from schema.goods.types import Category, Product, ProductStatus, Warehouse
from schema.node import parse_id
from schema.pagination import MAX_TOTAL_COUNT, Connection, connection, page_request
from schema.permissions import requires

__all__ = ["GoodsQuery", "ProductFilterInput", "ProductSortKeys"]

ProductSortKeys = strawberry.enum(ProductSort, name="ProductSortKeys")


@strawberry.input
class ProductFilterInput:
    category_id: strawberry.ID | None = strawberry.field(
        default=None, description="Products in this category or any category below it."
    )
    query: str | None = strawberry.field(
        default=None, description="Words in title, brand or description."
    )
    price_min: str | None = strawberry.field(default=None, description="Decimal, shop currency.")
    price_max: str | None = strawberry.field(default=None, description="Decimal, shop currency.")
    in_stock: bool | None = None
    status: ProductStatus | None = strawberry.field(  # type: ignore[valid-type]
        default=None, description="Staff only; storefront callers always see active products."
    )


def _price_bound(text: str | None, currency: str, name: str) -> int | None:
    if text is None:
        return None
    try:
        return parse_amount(text, currency)
    except MoneyError as exc:
        raise api_error(
            ApiErrorCode.BAD_USER_INPUT, f"filter.{name}: {exc}", argument=name
        ) from exc


def _to_filter(spec: ProductFilterInput | None, currency: str) -> ProductFilter:
    if spec is None:
        return ProductFilter()
    category = None
    if spec.category_id is not None:
        parsed = parse_id(str(spec.category_id))
        # An unknown category simply matches nothing, like any other filter value.
        category = parsed[1] if parsed and parsed[0] == "Category" else -1
    if spec.query is not None and len(spec.query) > 200:
        raise api_error(ApiErrorCode.BAD_USER_INPUT, "filter.query is longer than 200 characters.")
    return ProductFilter(
        category_id=category,
        query=spec.query or None,
        price_min=_price_bound(spec.price_min, currency, "priceMin"),
        price_max=_price_bound(spec.price_max, currency, "priceMax"),
        in_stock=spec.in_stock,
        status=spec.status,
    )


def _by_id_or_handle(
    model: type[CategoryRow] | type[ProductRow],
    type_name: str,
    info: Info,
    id: strawberry.ID | None,
    handle: str | None,
) -> Select[Any] | None:
    """The shop-scoped lookup by either key; None when the ID cannot be one of ``type_name``."""
    query = select(model).where(model.shop_id == info.context.require_shop().id)
    if id is not None:
        parsed = parse_id(str(id))
        if parsed is None or parsed[0] != type_name:
            return None
        return query.where(model.id == parsed[1])
    if handle is not None:
        return query.where(model.handle == handle)
    raise api_error(ApiErrorCode.BAD_USER_INPUT, "Pass id or handle.")


async def _sees_unpublished(info: Info) -> bool:
    return await info.context.allows("catalog", "read_unpublished")


@strawberry.type
class GoodsQuery:
    @strawberry.field(description="The shop's top-level categories; walk down through children.")
    async def categories(self, info: Info) -> list[Category]:
        shop = info.context.require_shop()
        async with info.context.db.reader() as session:
            return [Category.of(row) for row in await queries.root_categories(session, shop.id)]

    @strawberry.field
    async def category(
        self, info: Info, id: strawberry.ID | None = None, handle: str | None = None
    ) -> Category | None:
        query = _by_id_or_handle(CategoryRow, "Category", info, id, handle)
        if query is None:
            return None
        async with info.context.db.reader() as session:
            row = await session.scalar(query)
        return Category.of(row) if row else None

    @strawberry.field(
        description="A product by id or handle; storefronts see active products only."
    )
    async def product(
        self, info: Info, id: strawberry.ID | None = None, handle: str | None = None
    ) -> Product | None:
        query = _by_id_or_handle(ProductRow, "Product", info, id, handle)
        if query is None:
            return None
        if not await _sees_unpublished(info):
            query = query.where(ProductRow.status == ProductStatus.ACTIVE)
        async with info.context.db.reader() as session:
            row = await session.scalar(query)
            if row is None:
                return None
            # Its relations on the same session: one checkout, not one per loader.
            (preloaded,) = await preload_relations(info, [row], session, selected_on_object(info))
        return Product.of(row, info.context.require_shop().currency, preloaded)

    @strawberry.field(description="Products, keyset-paginated: first/after or last/before.")
    async def products(
        self,
        info: Info,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
        filter: ProductFilterInput | None = None,
        sort_key: ProductSortKeys = ProductSort.RELEVANCE,  # type: ignore[valid-type]
        reverse: bool = False,
    ) -> Connection[Product]:
        context = info.context
        shop = context.require_shop()
        spec = _to_filter(filter, shop.currency)
        order = product_order(sort_key, reverse, spec.query)
        request = page_request(
            context.services.cursors, order, first=first, after=after, last=last, before=before
        )
        unpublished = await _sees_unpublished(info)
        async with context.db.reader() as session:
            page = await search_products(
                session, shop.id, spec, order, request, include_unpublished=unpublished
            )
            preloaded = iter(await preload_relations(info, page.rows, session))

        async def total() -> int:
            async with context.db.reader() as session:
                return await count_products(
                    session, shop.id, spec, include_unpublished=unpublished, cap=MAX_TOTAL_COUNT
                )

        return connection(
            context.services.cursors,
            order,
            page,
            lambda row: Product.of(row, shop.currency, next(preloaded)),
            total,
        )

    @strawberry.field(extensions=requires("inventory", "read"))
    async def warehouses(self, info: Info) -> list[Warehouse]:
        shop = info.context.require_shop()
        async with info.context.db.reader() as session:
            rows = await session.scalars(
                select(queries.Warehouse)
                .where(queries.Warehouse.shop_id == shop.id)
                .order_by(queries.Warehouse.code)
            )
            return [Warehouse.of(r) for r in rows]
