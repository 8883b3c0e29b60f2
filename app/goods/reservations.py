"""Reserving stock for orders: never more than is on hand, even under any concurrency.

Each warehouse's share is taken with one conditional UPDATE (``on_hand - reserved >= qty``), so
two checkouts can never both take the last unit, whatever isolation level the database runs.
Allocation takes from the warehouse with the most free stock first, so an order splits across
as few warehouses as possible; ties go to the older warehouse. A reservation that cannot be
filled raises, and the caller's transaction rolls back every part already taken (and with
it any ``inventory/below_threshold`` event a part wrote: see ``app.goods.stock_topics``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import DomainError
from app.goods.errors import GoodsErrorCode
from app.goods.models import InventoryLevel, Variant
from app.goods.stock_topics import FACTS, StockFacts, record_below_threshold

__all__ = [
    "Allocation",
    "release_stock",
    "reserve_at",
    "reserve_stock",
    "return_shipped",
    "ship_reserved",
]

# A conditional UPDATE loses only to a concurrent reservation; a few fresh looks settle it.
ATTEMPTS = 5


@dataclass(frozen=True, slots=True)
class Allocation:
    level_id: int
    warehouse_id: int
    quantity: int


async def _free_levels(session: AsyncSession, variant_id: int) -> list[tuple[int, int, int]]:
    free = InventoryLevel.on_hand - InventoryLevel.reserved
    rows = await session.execute(
        select(InventoryLevel.id, InventoryLevel.warehouse_id, free)
        .where(InventoryLevel.variant_id == variant_id, free > 0)
        .order_by(free.desc(), InventoryLevel.warehouse_id)
    )
    return [(level_id, warehouse_id, int(units)) for level_id, warehouse_id, units in rows]


async def _take(session: AsyncSession, level_id: int, quantity: int) -> StockFacts | None:
    """Reserve at one level: its values after (to tell whether it fell below its threshold),
    or None when it has not that much free stock any more."""
    taken = await session.execute(
        update(InventoryLevel)
        .where(
            InventoryLevel.id == level_id,
            InventoryLevel.on_hand - InventoryLevel.reserved >= quantity,
        )
        .values(reserved=InventoryLevel.reserved + quantity, updated_at=utcnow())
        .returning(*FACTS)
        .execution_options(synchronize_session=False)
    )
    row = taken.first()
    return None if row is None else StockFacts(*row)


async def reserve_stock(
    session: AsyncSession,
    shop_id: int,
    variant_id: int,
    quantity: int,
    *,
    now: datetime | None = None,
) -> list[Allocation]:
    """Reserve ``quantity`` units in the caller's transaction, or raise INSUFFICIENT_STOCK.
    A level this takes below its low-stock threshold writes ``inventory/below_threshold``."""
    if quantity <= 0:
        raise DomainError.one(GoodsErrorCode.INVALID, "Reserve at least one unit.", "quantity")
    owned = (
        await session.execute(
            select(Variant.sku, Variant.product_id).where(
                Variant.id == variant_id, Variant.shop_id == shop_id
            )
        )
    ).first()
    if owned is None:
        raise DomainError.one(GoodsErrorCode.NOT_FOUND, "No such variant.", "variantId")
    sku, product_id = owned
    allocations: list[Allocation] = []
    remaining = quantity
    for _attempt in range(ATTEMPTS):
        for level_id, warehouse_id, free in await _free_levels(session, variant_id):
            take = min(free, remaining)
            facts = await _take(session, level_id, take) if take > 0 else None
            if facts is not None:
                allocations.append(Allocation(level_id, warehouse_id, take))
                remaining -= take
                if facts.crossed(take):
                    record_below_threshold(
                        session,
                        shop_id,
                        variant_id=variant_id,
                        product_id=product_id,
                        sku=sku,
                        facts=facts,
                        now=now,
                    )
            if remaining == 0:
                return allocations
        if not await _free_levels(session, variant_id):
            break
    raise DomainError.one(
        GoodsErrorCode.INSUFFICIENT_STOCK,
        f"Only {quantity - remaining} of {quantity} can be reserved.",
        "quantity",
    )


async def release_stock(session: AsyncSession, allocations: Sequence[Allocation]) -> None:
    """Give reserved units back (an order cancelled or expired)."""
    for allocation in allocations:
        await session.execute(
            update(InventoryLevel)
            .where(
                InventoryLevel.id == allocation.level_id,
                InventoryLevel.reserved >= allocation.quantity,
            )
            .values(reserved=InventoryLevel.reserved - allocation.quantity, updated_at=utcnow())
            .execution_options(synchronize_session=False)
        )


async def reserve_at(
    session: AsyncSession, variant_id: int, warehouse_id: int, quantity: int
) -> int | None:
    """Reserve ``quantity`` in one given warehouse (one conditional UPDATE): its level's id,
    or None when that warehouse has not that much free stock.

    When that takes the level below its low-stock threshold, ``inventory/below_threshold`` is
    written; only then is the variant read, for its shop and SKU.
    """
    taken = await session.execute(
        update(InventoryLevel)
        .where(
            InventoryLevel.variant_id == variant_id,
            InventoryLevel.warehouse_id == warehouse_id,
            InventoryLevel.on_hand - InventoryLevel.reserved >= quantity,
        )
        .values(reserved=InventoryLevel.reserved + quantity, updated_at=utcnow())
        .returning(*FACTS)
        .execution_options(synchronize_session=False)
    )
    row = taken.first()
    if row is None:
        return None
    facts = StockFacts(*row)
    if quantity > 0 and facts.crossed(quantity):
        variant = (
            await session.execute(
                select(Variant.shop_id, Variant.sku, Variant.product_id).where(
                    Variant.id == variant_id
                )
            )
        ).one()
        record_below_threshold(
            session,
            variant.shop_id,
            variant_id=variant_id,
            product_id=variant.product_id,
            sku=variant.sku,
            facts=facts,
        )
    return facts.level_id


async def ship_reserved(session: AsyncSession, level_id: int, quantity: int) -> bool:
    """Reserved units leave the warehouse: on hand and reserved both drop, in one UPDATE."""
    shipped = await session.execute(
        update(InventoryLevel)
        .where(
            InventoryLevel.id == level_id,
            InventoryLevel.reserved >= quantity,
            InventoryLevel.on_hand >= quantity,
        )
        .values(
            on_hand=InventoryLevel.on_hand - quantity,
            reserved=InventoryLevel.reserved - quantity,
            updated_at=utcnow(),
        )
        .returning(InventoryLevel.id)
        .execution_options(synchronize_session=False)
    )
    return shipped.first() is not None


async def return_shipped(session: AsyncSession, level_id: int, quantity: int) -> None:
    """Units that never left after all (a cancelled parcel) are back on hand and held again
    for their order: the reverse of ``ship_reserved``."""
    await session.execute(
        update(InventoryLevel)
        .where(InventoryLevel.id == level_id)
        .values(
            on_hand=InventoryLevel.on_hand + quantity,
            reserved=InventoryLevel.reserved + quantity,
            updated_at=utcnow(),
        )
        .execution_options(synchronize_session=False)
    )
