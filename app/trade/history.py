"""The order's history: one append-only event per thing that happened to it."""

from __future__ import annotations

import enum
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import utcnow
from app.trade.order_models import OrderEvent

__all__ = ["OrderEventKind", "record_event"]


class OrderEventKind(enum.StrEnum):
    PLACED = "PLACED"
    PAYMENT_STARTED = "PAYMENT_STARTED"
    PAYMENT_START_FAILED = "PAYMENT_START_FAILED"
    PAID = "PAID"
    MARKED_PAID = "MARKED_PAID"
    PAYMENT_FAILED = "PAYMENT_FAILED"
    PAID_AFTER_CLOSE = "PAID_AFTER_CLOSE"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"
    STOCK_RELEASED = "STOCK_RELEASED"
    REFUND_REQUESTED = "REFUND_REQUESTED"
    REFUNDED = "REFUNDED"
    REFUND_FAILED = "REFUND_FAILED"
    FULFILMENT_CHANGED = "FULFILMENT_CHANGED"
    COMPLETED = "COMPLETED"


async def record_event(
    session: AsyncSession,
    order_id: int,
    kind: OrderEventKind,
    *,
    actor: str = "",
    message: str = "",
    data: dict[str, Any] | None = None,
) -> None:
    session.add(
        OrderEvent(
            order_id=order_id,
            kind=kind.value,
            actor=actor,
            message=message,
            data=data or {},
            created_at=utcnow(),
        )
    )
