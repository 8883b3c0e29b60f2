"""Dead letters: ops sends a dead delivery again, with a fresh retry window.

The delivery keeps its id, event and attempt history, so the app sees the same event id (and
can dedupe) and ops can see that it was redelivered after the earlier failures.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError
from app.events.errors import EventErrorCode
from app.events.models import DeliveryStatus, WebhookDelivery
from app.events.policy import DeliveryPolicy

__all__ = ["redeliver"]


async def redeliver(
    session: AsyncSession, delivery_id: int, now: datetime, policy: DeliveryPolicy
) -> WebhookDelivery:
    delivery = await session.scalar(
        select(WebhookDelivery).where(WebhookDelivery.id == delivery_id).with_for_update()
    )
    if delivery is None:
        raise DomainError.one(EventErrorCode.NOT_FOUND, "No such delivery.", "deliveryId")
    if delivery.status is not DeliveryStatus.DEAD:
        raise DomainError.one(
            EventErrorCode.DELIVERY_NOT_DEAD,
            f"Only a dead delivery can be redelivered; this one is {delivery.status.value}.",
            "deliveryId",
        )
    delivery.status = DeliveryStatus.PENDING
    delivery.dead_at = None
    delivery.next_attempt_at = now
    delivery.give_up_at = now + policy.retry_window
    delivery.lease_until = None
    delivery.lease_token = None
    await session.flush()
    return delivery
