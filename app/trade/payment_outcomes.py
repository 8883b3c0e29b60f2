"""What a provider's verdict on a payment does to the order: PAID or FAILED, exactly once.

Provider events arrive at least once and in any order. Each is recorded by id in the same
transaction as its effect, so a second delivery changes nothing, and every status change is a
conditional UPDATE from the states it may leave. Money that arrives for an order that was
cancelled or expired meanwhile is refunded at once rather than kept.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.events.topics import Topic
from app.trade.completion import complete_and_record
from app.trade.history import OrderEventKind, record_event
from app.trade.order_models import Order, OrderStatus, PaymentStatus
from app.trade.order_topics import record_order_event
from app.trade.payment_models import Payment, PaymentState, ProviderEvent
from app.trade.refunds import reserve_refund

__all__ = ["AppliedOutcome", "ProviderOutcome", "apply_provider_outcome", "mark_paid"]

log = logging.getLogger("agora.trade.payments")

PAYABLE = (PaymentStatus.UNPAID, PaymentStatus.FAILED)


@dataclass(frozen=True, slots=True)
class ProviderOutcome:
    provider: str
    event_id: str
    kind: str  # the provider's event type
    succeeded: bool
    reference: str
    payment_id: int | None  # from the provider object's metadata, when it carries ours
    amount: int
    currency: str
    message: str = ""


@dataclass(slots=True)
class AppliedOutcome:
    duplicate: bool = False
    order_id: int | None = None
    refund_ids: list[int] = field(default_factory=list)


async def _first_delivery(session: AsyncSession, outcome: ProviderOutcome) -> bool:
    try:
        async with session.begin_nested():
            session.add(
                ProviderEvent(
                    provider=outcome.provider, event_id=outcome.event_id, kind=outcome.kind
                )
            )
            await session.flush()
    except IntegrityError:
        return False
    return True


async def _payment_of(session: AsyncSession, outcome: ProviderOutcome) -> Payment | None:
    matches = [Payment.reference == outcome.reference]
    if outcome.payment_id is not None:
        matches.append(Payment.id == outcome.payment_id)
    return await session.scalar(
        select(Payment).where(Payment.provider == outcome.provider, or_(*matches)).limit(1)
    )


async def mark_paid(
    session: AsyncSession,
    order: Order,
    *,
    actor: str,
    manual: bool,
    now: datetime | None = None,
) -> OrderStatus | None:
    """UNPAID or FAILED to PAID for the full total: the order's status as the update saw it,
    or None when it was paid already (a no-op).

    Staff may mark only an open order paid. A provider's money is recorded whatever the
    status, and the status returned (read by the UPDATE itself, after any concurrent cancel or
    expiry committed) tells the caller whether it must be given back. ``orders/paid`` goes to
    the outbox in the same transaction, built from the row the UPDATE returned.
    """
    conditions = [Order.id == order.id, Order.payment_status.in_(PAYABLE)]
    if manual:
        conditions.append(Order.status == OrderStatus.OPEN)
    paid = await session.execute(
        update(Order)
        .where(*conditions)
        .values(payment_status=PaymentStatus.PAID, paid_amount=Order.total)
        .returning(Order)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    row = paid.scalar()
    if row is None:
        return None
    status = row.status
    record_order_event(session, Topic.ORDERS_PAID, row, now=now or utcnow())
    await session.execute(
        update(Payment)
        .where(Payment.order_id == order.id, Payment.state != PaymentState.CANCELLED)
        .values(state=PaymentState.SUCCEEDED)
        .execution_options(synchronize_session=False)
    )
    kind = OrderEventKind.MARKED_PAID if manual else OrderEventKind.PAID
    await record_event(session, order.id, kind, actor=actor, data={"amount": order.total})
    await complete_and_record(session, order.id)  # cash collected on delivery
    return OrderStatus(status)


async def _succeeded(
    session: AsyncSession, payment: Payment, order: Order, outcome: ProviderOutcome
) -> list[int]:
    if outcome.amount != payment.amount or outcome.currency.upper() != payment.currency:
        log.error(
            "payment %s: provider reports %s %s", payment.id, outcome.amount, outcome.currency
        )
        await record_event(
            session,
            order.id,
            OrderEventKind.PAYMENT_FAILED,
            message="The provider reported a different amount; the order is not marked paid.",
            data={"amount": outcome.amount, "currency": outcome.currency},
        )
        return []
    # The provider took the money: this payment succeeded, whatever we thought of it before.
    payment.reference = payment.reference or outcome.reference
    payment.state = PaymentState.SUCCEEDED
    status = await mark_paid(session, order, actor=outcome.provider, manual=False)
    if status is None or status in (OrderStatus.OPEN, OrderStatus.COMPLETED):
        return []
    # Paid after the order was cancelled or expired: give the money straight back.
    await session.refresh(order)
    await record_event(
        session,
        order.id,
        OrderEventKind.PAID_AFTER_CLOSE,
        message="Payment arrived after the order closed; it is refunded in full.",
    )
    refund = await reserve_refund(
        session,
        order,
        payment,
        amount=order.paid_amount - order.refund_reserved,
        reason="Paid after the order closed",
        actor="agora",
    )
    return [refund.id]


async def _failed(
    session: AsyncSession, payment: Payment, order: Order, outcome: ProviderOutcome
) -> None:
    await session.execute(
        update(Payment)
        .where(Payment.id == payment.id, Payment.state == PaymentState.PENDING)
        .values(failure_message=outcome.message[:1000])
        .execution_options(synchronize_session=False)
    )
    failed = await session.execute(
        update(Order)
        .where(Order.id == order.id, Order.payment_status == PaymentStatus.UNPAID)
        .values(payment_status=PaymentStatus.FAILED)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    if failed.first() is not None:
        await record_event(
            session, order.id, OrderEventKind.PAYMENT_FAILED, message=outcome.message[:1000]
        )


async def apply_provider_outcome(session: AsyncSession, outcome: ProviderOutcome) -> AppliedOutcome:
    """Apply one provider event in the caller's transaction; refunds it opens are returned for
    the caller to send to the provider after the commit."""
    if not await _first_delivery(session, outcome):
        return AppliedOutcome(duplicate=True)
    payment = await _payment_of(session, outcome)
    if payment is None:
        log.warning("%s event %s names no payment of ours", outcome.provider, outcome.event_id)
        return AppliedOutcome()
    order = await session.get(Order, payment.order_id)
    assert order is not None
    applied = AppliedOutcome(order_id=order.id)
    if outcome.succeeded:
        applied.refund_ids = await _succeeded(session, payment, order, outcome)
    else:
        await _failed(session, payment, order, outcome)
    return applied
