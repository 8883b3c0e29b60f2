"""Refunds: never more than was paid, even when several are asked for at once.

A refund first reserves its amount with one conditional UPDATE on the order
(``refund_reserved + amount <= paid_amount``) and, when given by lines, each line's quantity
the same way. Two concurrent refunds therefore cannot both pass, whatever the isolation level.
The provider is asked after the commit. A refused refund gives its reservation back; one whose
outcome is unknown (a timeout) stays PENDING and the jobs loop retries it, looking it up at the
provider first.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.errors import DomainError, Problem
from app.events.topics import Topic
from app.trade.errors import TradeErrorCode
from app.trade.history import OrderEventKind, record_event
from app.trade.order_models import Order, OrderLine, PaymentStatus
from app.trade.order_topics import money, record_order_event
from app.trade.payment_models import Payment, Refund, RefundState

__all__ = [
    "MAX_REFUND_ATTEMPTS",
    "RefundLine",
    "claim_refund",
    "defer_refund",
    "reserve_line_quantities",
    "reserve_refund",
    "settle_refund",
]

log = logging.getLogger("agora.trade.refunds")

REFUNDABLE = (PaymentStatus.PAID, PaymentStatus.PARTIALLY_REFUNDED)
# The request that opened a refund sends it; the jobs loop only steps in after this.
RETRY_GRACE = timedelta(seconds=60)
MAX_REFUND_ATTEMPTS = 12


@dataclass(frozen=True, slots=True)
class RefundLine:
    line_id: int
    quantity: int


async def reserve_line_quantities(
    session: AsyncSession, order: Order, lines: Sequence[RefundLine]
) -> int:
    """Count each line's units as refunded (never past what was bought); the amount they make."""
    problems: list[Problem] = []
    found = {
        line.id: line
        for line in await session.scalars(
            select(OrderLine).where(
                OrderLine.order_id == order.id, OrderLine.id.in_([r.line_id for r in lines])
            )
        )
    }
    for index, request in enumerate(lines):
        field = ("lines", str(index))
        if request.line_id not in found:
            problems.append(Problem(TradeErrorCode.NOT_FOUND, "No such line.", (*field, "lineId")))
        elif request.quantity < 1:
            problems.append(
                Problem(TradeErrorCode.INVALID_QUANTITY, "At least 1.", (*field, "quantity"))
            )
    if problems:
        raise DomainError(problems)
    amount = 0
    for index, request in enumerate(lines):
        taken = await session.execute(
            update(OrderLine)
            .where(
                OrderLine.id == request.line_id,
                OrderLine.refunded_quantity + request.quantity <= OrderLine.quantity,
            )
            .values(refunded_quantity=OrderLine.refunded_quantity + request.quantity)
            .returning(OrderLine.unit_price)
            .execution_options(synchronize_session=False)
        )
        unit_price = taken.scalar()
        if unit_price is None:
            problems.append(
                Problem(
                    TradeErrorCode.REFUND_EXCEEDS_QUANTITY,
                    "More units than are left to refund on this line.",
                    ("lines", str(index), "quantity"),
                )
            )
        else:
            amount += unit_price * request.quantity
    if problems:
        raise DomainError(problems)
    return amount


async def reserve_refund(
    session: AsyncSession,
    order: Order,
    payment: Payment,
    *,
    amount: int,
    reason: str,
    actor: str,
    lines: Sequence[RefundLine] = (),
    now: datetime | None = None,
) -> Refund:
    """Reserve ``amount`` of what was paid and record a PENDING refund, in the caller's
    transaction. Raises REFUND_EXCEEDS_PAID when less than that is left to refund."""
    if amount <= 0:
        raise DomainError.one(TradeErrorCode.INVALID, "Refund more than zero.", "amount")
    reserved = await session.execute(
        update(Order)
        .where(Order.id == order.id, Order.refund_reserved + amount <= Order.paid_amount)
        .values(refund_reserved=Order.refund_reserved + amount)
        .returning(Order.id)
        .execution_options(synchronize_session=False)
    )
    if reserved.first() is None:
        raise DomainError.one(
            TradeErrorCode.REFUND_EXCEEDS_PAID,
            "That is more than is left to refund on this order.",
            "amount",
        )
    moment = now or utcnow()
    refund = Refund(
        order_id=order.id,
        payment_id=payment.id,
        amount=amount,
        currency=order.currency,
        reason=reason[:500],
        lines=[{"line_id": r.line_id, "quantity": r.quantity} for r in lines],
        actor=actor,
        next_attempt_at=moment + RETRY_GRACE,
    )
    session.add(refund)
    await session.flush()
    await record_event(
        session,
        order.id,
        OrderEventKind.REFUND_REQUESTED,
        actor=actor,
        message=reason[:500],
        data={"refund": refund.id, "amount": amount},
    )
    return refund


async def claim_refund(session: AsyncSession, refund_id: int, now: datetime, *, first: bool) -> int:
    """Take one attempt at sending a PENDING refund: its attempt number, or 0 if another
    worker holds it or it is settled. The first attempt belongs to the request that opened it;
    later ones to the jobs loop, once ``next_attempt_at`` has passed."""
    condition = Refund.attempts == 0 if first else Refund.next_attempt_at <= now
    claimed = await session.execute(
        update(Refund)
        .where(Refund.id == refund_id, Refund.state == RefundState.PENDING, condition)
        .values(attempts=Refund.attempts + 1, next_attempt_at=now + RETRY_GRACE)
        .returning(Refund.attempts)
        .execution_options(synchronize_session=False)
    )
    return int(claimed.scalar() or 0)


async def defer_refund(session: AsyncSession, refund_id: int, attempts: int, now: datetime) -> None:
    """After an attempt with an unknown outcome: try again later, waiting longer each time."""
    await session.execute(
        update(Refund)
        .where(Refund.id == refund_id, Refund.state == RefundState.PENDING)
        .values(next_attempt_at=now + RETRY_GRACE * 2 ** min(attempts, 8))
        .execution_options(synchronize_session=False)
    )


async def _give_back_lines(session: AsyncSession, lines: list[dict[str, Any]]) -> None:
    for line in lines:
        await session.execute(
            update(OrderLine)
            .where(OrderLine.id == line["line_id"])
            .values(refunded_quantity=OrderLine.refunded_quantity - line["quantity"])
            .execution_options(synchronize_session=False)
        )


async def settle_refund(
    session: AsyncSession,
    refund: Refund,
    *,
    reference: str | None,
    failure: str | None,
    now: datetime | None = None,
) -> bool:
    """Record the provider's answer: SUCCEEDED moves the money (and writes ``orders/refunded``
    to the outbox, once per refund, since only the call that settles it gets here), FAILED
    returns the reservation. False when the refund was already settled (by another worker)."""
    state = RefundState.FAILED if failure is not None else RefundState.SUCCEEDED
    settled = await session.execute(
        update(Refund)
        .where(Refund.id == refund.id, Refund.state == RefundState.PENDING)
        .values(state=state, reference=reference, failure_message=(failure or "")[:1000])
        .returning(Refund.id)
        .execution_options(synchronize_session=False)
    )
    if settled.first() is None:
        return False
    if failure is not None:
        await session.execute(
            update(Order)
            .where(Order.id == refund.order_id)
            .values(refund_reserved=Order.refund_reserved - refund.amount)
            .execution_options(synchronize_session=False)
        )
        await _give_back_lines(session, refund.lines)
        await record_event(
            session,
            refund.order_id,
            OrderEventKind.REFUND_FAILED,
            message=failure[:1000],
            data={"refund": refund.id, "amount": refund.amount},
        )
        return True
    # The whole row comes back, fresh, for the event; no read of its own.
    totals = await session.execute(
        update(Order)
        .where(Order.id == refund.order_id)
        .values(refunded_amount=Order.refunded_amount + refund.amount)
        .returning(Order)
        .execution_options(synchronize_session=False, populate_existing=True)
    )
    order = totals.scalar_one()
    status = (
        PaymentStatus.REFUNDED
        if order.refunded_amount >= order.paid_amount
        else PaymentStatus.PARTIALLY_REFUNDED
    )
    # RETURNING refreshes ``order`` in place when the status moves (it stays put otherwise).
    (
        await session.execute(
            update(Order)
            .where(Order.id == refund.order_id, Order.payment_status.in_(REFUNDABLE))
            .values(payment_status=status)
            .returning(Order)
            .execution_options(synchronize_session=False, populate_existing=True)
        )
    ).all()
    record_order_event(
        session,
        Topic.ORDERS_REFUNDED,
        order,
        now=now or utcnow(),
        refund_id=refund.id,
        refund_amount=money(refund.amount, refund.currency),
        refund_reason=refund.reason,
    )
    await record_event(
        session,
        refund.order_id,
        OrderEventKind.REFUNDED,
        actor=refund.actor,
        data={"refund": refund.id, "amount": refund.amount, "reference": reference},
    )
    return True
