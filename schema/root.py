"""``node`` and ``nodes``: refetch anything by global ID, within the request's shop only.

An ID from another shop, of an unpublished product for a storefront caller, or of a type the
caller may not read resolves to null, exactly like an ID that never existed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from strawberry.types import Info

from app.goods import queries
from app.identity.models import User as UserRow
from app.trade.orders import orders_by_id
from schema.errors import ApiErrorCode, api_error
from schema.goods.types import Category, Product, ProductVariant, Warehouse
from schema.identity import Shop, User
from schema.marketplace.listing_types import visible_listing_nodes
from schema.node import Node, parse_id
from schema.pagination import MAX_PAGE_SIZE
from schema.trade.order_types import Order

__all__ = ["NodeQuery"]

Fetch = Callable[[Info, list[int]], Awaitable[dict[int, Any]]]


async def _products(info: Info, pks: list[int]) -> dict[int, Any]:
    shop = info.context.require_shop()
    unpublished = await info.context.allows("catalog", "read_unpublished")
    async with info.context.db.reader() as session:
        rows = await queries.products_by_id(session, shop.id, pks, include_unpublished=unpublished)
    return {pk: Product.of(row, shop.currency) for pk, row in rows.items()}


async def _variants(info: Info, pks: list[int]) -> dict[int, Any]:
    shop = info.context.require_shop()
    unpublished = await info.context.allows("catalog", "read_unpublished")
    async with info.context.db.reader() as session:
        rows = await queries.stocked_variants_by_id(
            session, shop.id, pks, include_unpublished=unpublished
        )
    return {pk: ProductVariant.of(row) for pk, row in rows.items()}


async def _categories(info: Info, pks: list[int]) -> dict[int, Any]:
    rows = await info.context.loaders.category.load_many(pks)
    return {row.id: Category.of(row) for row in rows if row is not None}


async def _warehouses(info: Info, pks: list[int]) -> dict[int, Any]:
    if not await info.context.allows("inventory", "read"):
        return {}
    rows = await info.context.loaders.warehouse.load_many(pks)
    return {row.id: Warehouse.of(row) for row in rows if row is not None}


async def _shops(info: Info, pks: list[int]) -> dict[int, Any]:
    shop = info.context.require_shop()
    return {shop.id: Shop.of(shop)} if shop.id in pks else {}


async def _users(info: Info, pks: list[int]) -> dict[int, Any]:
    own = info.context.principal.user_id if info.context.principal else None
    if own is None or own not in pks:
        return {}
    async with info.context.db.reader() as session:
        row = await session.get(UserRow, own)
    return {own: User.of(row)} if row else {}


async def _orders(info: Info, pks: list[int]) -> dict[int, Any]:
    """The shop's staff see any order; a signed-in shopper only their own."""
    shop = info.context.require_shop()
    staff = await info.context.allows("order", "read")
    principal = info.context.principal
    own = principal.user_id if principal else None
    async with info.context.db.reader() as session:
        rows = await orders_by_id(session, shop.id, pks)
    cipher = info.context.services.trade.cipher
    return {
        pk: Order.of(row, cipher)
        for pk, row in rows.items()
        if staff or (own is not None and row.user_id == own)
    }


_FETCHERS: dict[str, Fetch] = {
    "Product": _products,
    "ProductVariant": _variants,
    "Category": _categories,
    "Warehouse": _warehouses,
    "Shop": _shops,
    "User": _users,
    "Order": _orders,
    "Listing": visible_listing_nodes,
}


async def resolve_nodes(info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
    """One bulk fetch per type named, whatever the number of IDs."""
    wanted: dict[str, list[int]] = defaultdict(list)
    parsed = [parse_id(str(i)) for i in ids]
    for item in parsed:
        if item is not None and item[0] in _FETCHERS:
            wanted[item[0]].append(item[1])
    found = {name: await _FETCHERS[name](info, pks) for name, pks in wanted.items()}
    return [found.get(item[0], {}).get(item[1]) if item else None for item in parsed]


@strawberry.type
class NodeQuery:
    @strawberry.field(description="Any object by its global ID; null if it is not visible here.")
    async def node(self, info: Info, id: strawberry.ID) -> Node | None:
        return (await resolve_nodes(info, [id]))[0]

    @strawberry.field(description=f"Up to {MAX_PAGE_SIZE} objects by global ID, in order.")
    async def nodes(self, info: Info, ids: list[strawberry.ID]) -> list[Node | None]:
        if len(ids) > MAX_PAGE_SIZE:
            raise api_error(
                ApiErrorCode.PAGE_SIZE_EXCEEDED, f"Ask for at most {MAX_PAGE_SIZE} IDs at once."
            )
        return await resolve_nodes(info, ids)
