"""Writing an event: one row added to the caller's own session.

The caller's transaction decides whether the event exists. Commit, and the dispatcher will
find it; roll back, and there was never anything to send. Nothing here talks to the network.
"""

from __future__ import annotations

import secrets
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.events.models import OutboxEvent
from app.events.topics import STORED_VERSION, Topic

__all__ = ["new_event_id", "record_event"]


def new_event_id() -> str:
    """``evt_`` and 128 random bits: usable as the webhook signature's nonce."""
    return f"evt_{secrets.token_hex(16)}"


def record_event(
    session: AsyncSession,
    topic: Topic,
    shop_id: int | None,
    payload: dict[str, Any],
    *,
    occurred_at: datetime,
) -> OutboxEvent:
    event = OutboxEvent(
        id=new_event_id(),
        topic=topic.value,
        shop_id=shop_id,
        payload_version=STORED_VERSION,
        payload=payload,
        occurred_at=occurred_at,
    )
    session.add(event)
    return event
