"""Asking for a refund, sending it to the provider, and retrying the ones left in doubt."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError
from app.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyConflictError,
    IdempotencyKeyError,
    run_once,
)
from app.trade.errors import TradeErrorCode
from app.trade.order_models import Order, PaymentStatus
from app.trade.payment_models import Payment, PaymentState, Refund, RefundState
from app.trade.payments import PaymentProviderError, RefundRequest
from app.trade.refunds import (
    MAX_REFUND_ATTEMPTS,
    REFUNDABLE,
    RefundLine,
    claim_refund,
    defer_refund,
    reserve_line_quantities,
    reserve_refund,
    settle_refund,
)
from app.trade.services import TradeServices

__all__ = ["RefundCommand", "create_refund", "retry_pending_refunds", "send_refund"]

log = logging.getLogger("agora.trade.refunds")


@dataclass(frozen=True, slots=True)
class RefundCommand:
    shop_id: int
    order_id: int
    amount: int | None
    lines: tuple[RefundLine, ...]
    reason: str
    key: str
    actor: str


async def _open(session: AsyncSession, services: TradeServices, command: RefundCommand) -> int:
    order = await session.scalar(
        select(Order).where(Order.id == command.order_id, Order.shop_id == command.shop_id)
    )
    if order is None:
        raise DomainError.one(TradeErrorCode.NOT_FOUND, "No such order.", "orderId")
    if order.payment_status is PaymentStatus.REFUNDED:
        raise DomainError.one(
            TradeErrorCode.REFUND_EXCEEDS_PAID, "This order is refunded in full.", "orderId"
        )
    if order.payment_status not in REFUNDABLE:
        raise DomainError.one(
            TradeErrorCode.NOT_PAID, "Only a paid order can be refunded.", "orderId"
        )
    if (command.amount is None) == (not command.lines):
        raise DomainError.one(
            TradeErrorCode.INVALID, "Give either lines or an amount, not both.", "amount"
        )
    amount = command.amount
    if command.lines:
        amount = await reserve_line_quantities(session, order, command.lines)
    payment = await session.scalar(
        select(Payment)
        .where(Payment.order_id == order.id, Payment.state == PaymentState.SUCCEEDED)
        .limit(1)
    )
    assert payment is not None
    assert amount is not None
    refund = await reserve_refund(
        session,
        order,
        payment,
        amount=amount,
        reason=command.reason,
        actor=command.actor,
        lines=command.lines,
        now=services.clock(),
    )
    return refund.id


async def create_refund(
    services: TradeServices,
    command: RefundCommand,
    on_opened: Callable[[AsyncSession, int], Awaitable[None]] | None = None,
) -> tuple[int, bool]:
    """Open the refund and send it: ``(refund id, replayed)``. A replay returns the first.
    ``on_opened`` runs in the opening transaction (the audit record), never on a replay."""
    fingerprint = {
        "order": command.order_id,
        "amount": command.amount,
        "lines": [[r.line_id, r.quantity] for r in command.lines],
        "reason": command.reason,
    }

    async def effect(session: AsyncSession) -> dict[str, int]:
        refund_id = await _open(session, services, command)
        if on_opened is not None:
            await on_opened(session, refund_id)
        return {"refund_id": refund_id}

    try:
        result, replayed = await run_once(
            services.db.writer,
            scope=f"refund:shop:{command.shop_id}",
            key=command.key,
            request=fingerprint,
            effect=effect,
        )
    except IdempotencyConflictError as error:
        raise DomainError.one(
            TradeErrorCode.IDEMPOTENCY_CONFLICT,
            "This idempotency key was used with other input.",
            "idempotencyKey",
        ) from error
    except IdempotencyKeyError as error:
        raise DomainError.one(
            TradeErrorCode.INVALID,
            f"Give an idempotency key of 1 to {MAX_KEY_LENGTH} characters.",
            "idempotencyKey",
        ) from error
    if not replayed:
        await send_refund(services, result["refund_id"], first=True)
    return result["refund_id"], replayed


async def send_refund(services: TradeServices, refund_id: int, *, first: bool) -> None:
    """One attempt at the provider, outside any transaction, then its answer recorded."""
    now = services.clock()
    async with services.db.writer() as session, session.begin():
        attempt = await claim_refund(session, refund_id, now, first=first)
    if attempt == 0:
        return
    async with services.db.reader() as session:
        refund = await session.get(Refund, refund_id)
        assert refund is not None
        payment = await session.get(Payment, refund.payment_id)
        assert payment is not None
    provider = services.providers.named(payment.provider)
    if provider is None:
        log.error("refund %s: provider %s is not configured", refund_id, payment.provider)
        return
    reference, failure = None, None
    try:
        sent = await provider.refund(
            RefundRequest(
                refund_id=refund.id,
                payment_reference=payment.reference,
                amount=refund.amount,
                currency=refund.currency,
                attempt=attempt,
            )
        )
        reference = sent.reference
    except PaymentProviderError as error:
        if not error.definite and attempt < MAX_REFUND_ATTEMPTS:
            log.warning("refund %s attempt %s left in doubt: %s", refund_id, attempt, error)
            async with services.db.writer() as session, session.begin():
                await defer_refund(session, refund_id, attempt, now)
            return
        failure = str(error) or "The provider refused the refund."
    async with services.db.writer() as session, session.begin():
        await settle_refund(
            session, refund, reference=reference, failure=failure, now=services.clock()
        )


async def retry_pending_refunds(services: TradeServices, *, limit: int = 50) -> int:
    """Send again the refunds whose outcome is unknown and whose wait is over."""
    now = services.clock()
    async with services.db.reader() as session:
        due = list(
            await session.scalars(
                select(Refund.id)
                .where(Refund.state == RefundState.PENDING, Refund.next_attempt_at <= now)
                .order_by(Refund.next_attempt_at)
                .limit(limit)
            )
        )
    for refund_id in due:
        await send_refund(services, refund_id, first=False)
    return len(due)
