"""Giving an order's held stock back, exactly once, when it is cancelled or expires."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.goods.reservations import Allocation, release_stock
from app.trade.order_models import OrderAllocation, OrderLine

__all__ = ["release_order_stock"]


async def release_order_stock(session: AsyncSession, order_id: int, now: datetime) -> int:
    """Release what every allocation still holds (not shipped, not released before); returns
    the units given back.

    Each allocation is marked released with a conditional UPDATE first, so two releases of the
    same order (a cancel racing the expiry job) can never give the same units back twice.
    """
    rows = (
        await session.scalars(
            select(OrderAllocation)
            .join(OrderLine, OrderLine.id == OrderAllocation.line_id)
            .where(OrderLine.order_id == order_id, OrderAllocation.released_at.is_(None))
        )
    ).all()
    released = []
    for row in rows:
        claimed = await session.execute(
            update(OrderAllocation)
            .where(OrderAllocation.id == row.id, OrderAllocation.released_at.is_(None))
            .values(released_at=now)
            .returning(OrderAllocation.id)
            .execution_options(synchronize_session=False)
        )
        unshipped = row.quantity - row.shipped_quantity
        if claimed.first() is not None and row.level_id is not None and unshipped > 0:
            released.append(Allocation(row.level_id, row.warehouse_id or 0, unshipped))
    await release_stock(session, released)
    return sum(a.quantity for a in released)
