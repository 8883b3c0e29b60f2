"""When an order is done: paid and delivered makes it COMPLETED, whichever came last."""

from __future__ import annotations

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.trade.history import OrderEventKind, record_event
from app.trade.order_models import FulfillmentStatus, Order, OrderStatus, PaymentStatus

__all__ = ["PAID", "complete_and_record", "complete_if_done"]

# A partial refund (a returned item) does not undo that the order was paid.
PAID = (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)


async def complete_if_done(session: AsyncSession, order_id: int) -> bool:
    """An open order that is paid and delivered is COMPLETED."""
    completed = await session.execute(
        update(Order)
        .where(
            Order.id == order_id,
            Order.status == OrderStatus.OPEN,
            Order.payment_status.in_(PAID),
            Order.fulfillment_status == FulfillmentStatus.DELIVERED,
        )
        .values(status=OrderStatus.COMPLETED)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    return completed.first() is not None


async def complete_and_record(session: AsyncSession, order_id: int) -> None:
    if await complete_if_done(session, order_id):
        await record_event(session, order_id, OrderEventKind.COMPLETED)
