"""Per-request DataLoaders: every relation in the graph is fetched in bulk, one statement a level.

Each loader opens its own short session, so loaders that strawberry runs side by side never
share a connection, and each sees the latest committed data (a mutation's payload included).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.dataloader import DataLoader

from app.db import SessionFactory
from app.goods import queries
from app.goods.models import Category, InventoryLevel, Product, ProductImage, Warehouse
from app.goods.queries import StockedVariant
from app.logistics import queries as logistics
from app.logistics.shipment_models import Carrier, Shipment, ShipmentLine, TrackingEvent
from app.trade import orders
from app.trade.order_models import OrderEvent, OrderLine
from app.trade.payment_models import Payment, Refund

__all__ = ["Loaders", "bulk_loader"]

K = TypeVar("K")
V = TypeVar("V")


def bulk_loader(
    reader: SessionFactory,
    fetch: Callable[[AsyncSession, Sequence[K]], Awaitable[dict[K, Any]]],
    missing: Callable[[], V],
) -> DataLoader[K, V]:
    async def load(keys: Sequence[K]) -> list[V]:
        async with reader() as session:
            found = await fetch(session, keys)
        return [found[key] if key in found else missing() for key in keys]

    return DataLoader(load_fn=load)


class Loaders:
    """Created lazily per request, scoped to the request's shop."""

    def __init__(self, reader: SessionFactory, shop_id: int) -> None:
        def scoped(fetch: Callable[..., Awaitable[dict[Any, Any]]]) -> Callable[..., Any]:
            return lambda session, keys: fetch(session, shop_id, keys)

        self.category: DataLoader[int, Category | None] = bulk_loader(
            reader, scoped(queries.categories_by_id), lambda: None
        )
        self.child_categories: DataLoader[int, list[Category]] = bulk_loader(
            reader, scoped(queries.categories_by_parent), list
        )
        self.product: DataLoader[int, Product | None] = bulk_loader(
            reader,
            lambda s, keys: queries.products_by_id(s, shop_id, keys, include_unpublished=True),
            lambda: None,
        )
        self.images: DataLoader[int, list[ProductImage]] = bulk_loader(
            reader, queries.images_by_product, list
        )
        self.variants: DataLoader[int, list[StockedVariant]] = bulk_loader(
            reader, queries.stocked_variants_by_product, list
        )
        self.available: DataLoader[int, bool] = bulk_loader(
            reader, queries.availability_by_product, lambda: False
        )
        self.warehouse: DataLoader[int, Warehouse | None] = bulk_loader(
            reader, scoped(queries.warehouses_by_id), lambda: None
        )
        self.inventory_levels: DataLoader[int, list[InventoryLevel]] = bulk_loader(
            reader, queries.inventory_levels_by_variant, list
        )
        self.variant: DataLoader[int, StockedVariant | None] = bulk_loader(
            reader,
            lambda s, keys: queries.stocked_variants_by_id(
                s, shop_id, keys, include_unpublished=True
            ),
            lambda: None,
        )
        self.order_lines: DataLoader[int, list[OrderLine]] = bulk_loader(
            reader, orders.lines_by_order, list
        )
        self.order_payments: DataLoader[int, list[Payment]] = bulk_loader(
            reader, orders.payments_by_order, list
        )
        self.order_refunds: DataLoader[int, list[Refund]] = bulk_loader(
            reader, orders.refunds_by_order, list
        )
        self.order_events: DataLoader[int, list[OrderEvent]] = bulk_loader(
            reader, orders.events_by_order, list
        )
        self.shipments: DataLoader[int, list[Shipment]] = bulk_loader(
            reader, logistics.shipments_by_order, list
        )
        self.tracking_events: DataLoader[int, list[TrackingEvent]] = bulk_loader(
            reader, logistics.events_by_shipment, list
        )
        self.shipment_lines: DataLoader[int, list[ShipmentLine]] = bulk_loader(
            reader, logistics.lines_by_shipment, list
        )
        self.carrier: DataLoader[int, Carrier | None] = bulk_loader(
            reader, logistics.carriers_by_id, lambda: None
        )
