"""The outbox side of orders: what an ``orders/*`` event says, built from rows already at hand.

Each event is written into the session of the change it describes (``app.events.outbox``), so
it commits or rolls back with it. The payload follows the outbox conventions: snake_case keys,
``order_id``/``variant_id``/``refund_id`` for ids, money as ``{"amount", "currency"}`` in minor
units. It is built from the Order row the caller holds, fresh from the statement that changed it;
lines are included only when the caller has them loaded anyway (checkout), so an event never
costs a query of its own beyond its INSERT.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.events.outbox import record_event
from app.events.topics import Topic
from app.trade.order_models import Order, OrderLine

__all__ = ["ORDER_TOPICS", "money", "order_payload", "record_order_event"]

ORDER_TOPICS = frozenset(
    {Topic.ORDERS_CREATED, Topic.ORDERS_PAID, Topic.ORDERS_CANCELLED, Topic.ORDERS_REFUNDED}
)


def money(amount: int, currency: str) -> dict[str, Any]:
    return {"amount": int(amount), "currency": currency}


def _line(line: OrderLine, currency: str) -> dict[str, Any]:
    return {
        "variant_id": line.variant_id,
        "sku": line.sku,
        "title": line.product_title,
        "variant_title": line.variant_title,
        "quantity": line.quantity,
        "unit_price": money(line.unit_price, currency),
        "total": money(line.total, currency),
    }


def order_payload(order: Order, lines: Sequence[OrderLine] | None = None) -> dict[str, Any]:
    """The order's header as of ``order``; its lines too when given."""
    currency = order.currency
    payload: dict[str, Any] = {
        "order_id": order.id,
        "number": order.number,
        "status": str(order.status),
        "payment_status": str(order.payment_status),
        "fulfillment_status": str(order.fulfillment_status),
        "payment_method": str(order.payment_method),
        "currency": currency,
        "subtotal": money(order.subtotal, currency),
        "shipping": money(order.shipping_amount, currency),
        "total": money(order.total, currency),
        "paid": money(order.paid_amount or 0, currency),
        "refunded": money(order.refunded_amount or 0, currency),
        "shipping_method_code": order.shipping_method_code,
    }
    if lines is not None:
        payload["line_count"] = len(lines)
        payload["lines"] = [_line(line, currency) for line in lines]
    return payload


def record_order_event(
    session: AsyncSession,
    topic: Topic,
    order: Order,
    *,
    now: datetime,
    lines: Sequence[OrderLine] | None = None,
    **extra: Any,
) -> None:
    """Add ``topic`` for ``order`` to the caller's transaction; ``extra`` joins the payload."""
    assert topic in ORDER_TOPICS, topic
    record_event(
        session, topic, order.shop_id, {**order_payload(order, lines), **extra}, occurred_at=now
    )
