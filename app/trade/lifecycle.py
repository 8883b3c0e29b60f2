"""Order state changes that staff and time cause: marking paid, cancelling, expiring.

Each is idempotent by state: it moves the order with a conditional UPDATE from the states it may
leave, so a repeat (or a race with another worker) finds nothing to move and changes nothing.
Provider calls (refunds, cancelling a PaymentIntent) happen after the commit.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError
from app.events.topics import Topic
from app.trade.allocations import release_order_stock
from app.trade.errors import TradeErrorCode
from app.trade.history import OrderEventKind, record_event
from app.trade.order_models import (
    FulfillmentStatus,
    Order,
    OrderStatus,
    PaymentMethod,
    PaymentStatus,
)
from app.trade.order_topics import record_order_event
from app.trade.payment_models import Payment, PaymentState
from app.trade.payment_outcomes import mark_paid
from app.trade.refund_flow import send_refund
from app.trade.refunds import reserve_refund
from app.trade.services import TradeServices

__all__ = [
    "Closing",
    "cancel_order",
    "expire_unpaid_orders",
    "finish_closing",
    "mark_order_paid",
    "shop_order",
]

log = logging.getLogger("agora.trade.orders")

EXPIRY_BATCH = 100


async def shop_order(session: AsyncSession, shop_id: int, order_id: int) -> Order:
    order = await session.scalar(
        select(Order).where(Order.id == order_id, Order.shop_id == shop_id)
    )
    if order is None:
        raise DomainError.one(TradeErrorCode.NOT_FOUND, "No such order.", "orderId")
    return order


async def mark_order_paid(
    session: AsyncSession, shop_id: int, order_id: int, *, actor: str
) -> bool:
    """Record a bank transfer or cash payment in the caller's transaction; False when the
    order was already paid (nothing happens a second time)."""
    order = await shop_order(session, shop_id, order_id)
    if order.payment_method is PaymentMethod.STRIPE:
        raise DomainError.one(
            TradeErrorCode.NOT_PAYABLE_MANUALLY,
            "Card orders are marked paid by Stripe, not by hand.",
            "orderId",
        )
    if await mark_paid(session, order, actor=actor, manual=True) is not None:
        return True
    await session.refresh(order)
    if order.payment_status in (PaymentStatus.UNPAID, PaymentStatus.FAILED):
        # Not open any more (possibly cancelled a moment ago): it takes no payment now.
        raise DomainError.one(
            TradeErrorCode.ORDER_CLOSED, "This order is cancelled or expired.", "orderId"
        )
    return False


@dataclass(slots=True)
class Closing:
    """What closing an order left for after the commit: refunds to send, intents to stop."""

    changed: bool = True
    refund_ids: list[int] = field(default_factory=list)
    intents_to_cancel: list[tuple[int, str, str]] = field(default_factory=list)


async def _pending_intents(session: AsyncSession, order_id: int) -> list[tuple[int, str, str]]:
    rows = await session.execute(
        select(Payment.id, Payment.provider, Payment.reference).where(
            Payment.order_id == order_id,
            Payment.state == PaymentState.PENDING,
            Payment.reference.is_not(None),
        )
    )
    return [(pk, provider, reference) for pk, provider, reference in rows]


async def _close_unstarted_payments(session: AsyncSession, order_id: int) -> None:
    """Payments no provider knows of (manual ones, or a card payment that never started) end
    with the order; started ones are cancelled at the provider after the commit."""
    await session.execute(
        update(Payment)
        .where(
            Payment.order_id == order_id,
            Payment.state == PaymentState.PENDING,
            Payment.reference.is_(None),
        )
        .values(state=PaymentState.CANCELLED)
        .execution_options(synchronize_session=False)
    )


async def finish_closing(services: TradeServices, closing: Closing) -> None:
    """Provider work that must not run inside the closing transaction."""
    for refund_id in closing.refund_ids:
        await send_refund(services, refund_id, first=True)
    for payment_id, provider_name, reference in closing.intents_to_cancel:
        provider = services.providers.named(provider_name)
        if provider is None or not await provider.cancel(reference):
            continue
        async with services.db.writer() as session, session.begin():
            await session.execute(
                update(Payment)
                .where(Payment.id == payment_id, Payment.state == PaymentState.PENDING)
                .values(state=PaymentState.CANCELLED)
                .execution_options(synchronize_session=False)
            )


async def cancel_order(
    session: AsyncSession,
    shop_id: int,
    order_id: int,
    *,
    actor: str,
    reason: str,
    now: datetime,
) -> Closing:
    """Cancel an unfulfilled order in the caller's transaction: its stock goes back and what
    was paid is set to be refunded (``finish_closing`` sends it after the commit). A repeat
    changes nothing (``changed`` is False)."""
    order = await shop_order(session, shop_id, order_id)
    cancelled = await session.execute(
        update(Order)
        .where(
            Order.id == order.id,
            Order.status == OrderStatus.OPEN,
            Order.fulfillment_status == FulfillmentStatus.UNFULFILLED,
        )
        .values(status=OrderStatus.CANCELLED)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    if cancelled.first() is None:
        await session.refresh(order)
        if order.status is OrderStatus.CANCELLED:
            return Closing(changed=False)
        raise DomainError.one(
            TradeErrorCode.ORDER_NOT_CANCELLABLE,
            "Only an open order with nothing shipped can be cancelled.",
            "orderId",
        )
    closing = Closing()
    units = await release_order_stock(session, order.id, now)
    await record_event(
        session,
        order.id,
        OrderEventKind.CANCELLED,
        actor=actor,
        message=reason[:500],
        data={"released_units": units},
    )
    await session.refresh(order)
    record_order_event(session, Topic.ORDERS_CANCELLED, order, now=now, reason=reason[:500])
    if order.paid_amount > order.refund_reserved:
        payment = await session.scalar(
            select(Payment)
            .where(Payment.order_id == order.id, Payment.state == PaymentState.SUCCEEDED)
            .limit(1)
        )
        assert payment is not None
        refund = await reserve_refund(
            session,
            order,
            payment,
            amount=order.paid_amount - order.refund_reserved,
            reason=reason or "Order cancelled",
            actor=actor,
            now=now,
        )
        closing.refund_ids.append(refund.id)
    closing.intents_to_cancel = await _pending_intents(session, order.id)
    await _close_unstarted_payments(session, order.id)
    return closing


def _expirable(now: object) -> list[object]:
    return [
        Order.status == OrderStatus.OPEN,
        Order.payment_method == PaymentMethod.STRIPE,
        Order.payment_status.in_((PaymentStatus.UNPAID, PaymentStatus.FAILED)),
        Order.expires_at <= now,
    ]


async def expire_unpaid_orders(services: TradeServices, *, limit: int = EXPIRY_BATCH) -> int:
    """Expire Stripe orders left unpaid past their deadline and release their stock.

    Safe with any number of workers: on PostgreSQL each claims a batch with ``FOR UPDATE SKIP
    LOCKED``, so workers split the work instead of queueing on it, and the move itself is a
    conditional UPDATE, so an order that got paid meanwhile is left alone.
    """
    now = services.clock()
    closing = Closing()
    expired = 0
    async with services.db.writer() as session, session.begin():
        due = list(
            await session.scalars(
                select(Order.id)
                .where(*_expirable(now))  # type: ignore[arg-type]
                .order_by(Order.expires_at, Order.id)
                .limit(limit)
                .with_for_update(skip_locked=True)
            )
        )
        for order_id in due:
            moved = await session.execute(
                update(Order)
                .where(Order.id == order_id, *_expirable(now))  # type: ignore[arg-type]
                .values(status=OrderStatus.EXPIRED)
                .returning(Order)
                .execution_options(synchronize_session=False, populate_existing=True)
            )
            order = moved.scalar()
            if order is None:
                continue
            # Expiry is a cancellation by time: apps see orders/cancelled, status EXPIRED.
            record_order_event(
                session,
                Topic.ORDERS_CANCELLED,
                order,
                now=now,
                reason="Unpaid past the payment deadline.",
            )
            units = await release_order_stock(session, order_id, now)
            await record_event(
                session,
                order_id,
                OrderEventKind.EXPIRED,
                actor="agora",
                message="Unpaid past the payment deadline; stock released.",
                data={"released_units": units},
            )
            closing.intents_to_cancel += await _pending_intents(session, order_id)
            await _close_unstarted_payments(session, order_id)
            expired += 1
    await finish_closing(services, closing)
    return expired
