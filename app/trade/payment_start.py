"""Starting a payment after its order is committed, and again when a checkout is replayed.

The provider is called with no transaction open. What it answers is recorded afterwards with a
conditional UPDATE (``reference IS NULL``), so two replays racing each other record one
PaymentIntent, the one Stripe returned to both for the same idempotency key.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from sqlalchemy import update

from app.trade.history import OrderEventKind, record_event
from app.trade.order_models import Order
from app.trade.payment_models import Payment, PaymentState
from app.trade.payments import PaymentProviderError, PaymentStartRequest
from app.trade.services import TradeServices

__all__ = ["StartOutcome", "start_payment"]

log = logging.getLogger("agora.trade.payments")


@dataclass(frozen=True, slots=True)
class StartOutcome:
    client_secret: str | None
    problem: str | None


async def _record_failure(services: TradeServices, payment: Payment, message: str) -> None:
    async with services.db.writer() as session, session.begin():
        await record_event(
            session, payment.order_id, OrderEventKind.PAYMENT_START_FAILED, message=message
        )


async def start_payment(services: TradeServices, payment_id: int) -> StartOutcome:
    async with services.db.reader() as session:
        payment = await session.get(Payment, payment_id)
        assert payment is not None
        order = await session.get(Order, payment.order_id)
        assert order is not None
    provider = services.providers.named(payment.provider)
    if provider is None or payment.state is not PaymentState.PENDING:
        return StartOutcome(None, None)
    try:
        if payment.reference is not None:
            return StartOutcome(await provider.client_secret(payment.reference), None)
        started = await provider.start(
            PaymentStartRequest(
                payment_id=payment.id,
                order_id=order.id,
                order_number=order.number,
                shop_id=order.shop_id,
                amount=payment.amount,
                currency=payment.currency,
            )
        )
    except PaymentProviderError as error:
        log.warning("payment %s could not start: %s", payment.id, error)
        await _record_failure(services, payment, str(error))
        return StartOutcome(None, str(error))
    if started.reference is not None:
        async with services.db.writer() as session, session.begin():
            recorded = await session.execute(
                update(Payment)
                .where(Payment.id == payment.id, Payment.reference.is_(None))
                .values(reference=started.reference)
                .returning(Payment.id)
                .execution_options(synchronize_session=False)
            )
            if recorded.first() is not None:
                await record_event(
                    session,
                    order.id,
                    OrderEventKind.PAYMENT_STARTED,
                    data={"provider": provider.name, "reference": started.reference},
                )
    return StartOutcome(started.client_secret, None)
