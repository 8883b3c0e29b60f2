"""The outbox, the webhook deliveries made from it, their attempts, and endpoint circuits.

An outbox row is written in the transaction of the change it describes, so it exists exactly
when the change does. The dispatcher routes each event once (``routed_at``) into one delivery
per subscribed endpoint; a delivery is the unit that is retried, leased, dead-lettered and
redelivered. Attempts are kept so a partner can see what Agora saw. Deliveries name their
recipient (``app_id``, ``subscription_id``) without foreign keys: events sit below the
marketplace and know apps only as numbers; the marketplace cleans up after what it deletes.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import JSON, ForeignKey, Index, Integer, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, enum_column, utcnow

__all__ = [
    "CircuitState",
    "DeliveryAttempt",
    "DeliveryStatus",
    "EndpointCircuit",
    "OutboxEvent",
    "WebhookDelivery",
]


class DeliveryStatus(enum.StrEnum):
    PENDING = "pending"
    DELIVERED = "delivered"
    DEAD = "dead"


class CircuitState(enum.StrEnum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


class OutboxEvent(Base):
    __tablename__ = "outbox_events"
    __table_args__ = (Index("ix_outbox_events_unrouted", "routed_at", "seq"),)

    # ``seq`` orders the outbox; ``id`` is the public event id (the webhook nonce).
    seq: Mapped[int] = mapped_column(BigId, primary_key=True)
    id: Mapped[str] = mapped_column(String(40), unique=True)
    topic: Mapped[str] = mapped_column(String(64), index=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    payload_version: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    occurred_at: Mapped[datetime]
    routed_at: Mapped[datetime | None]


class WebhookDelivery(Base):
    __tablename__ = "webhook_deliveries"
    __table_args__ = (
        Index("ix_webhook_deliveries_due", "status", "next_attempt_at"),
        Index("ix_webhook_deliveries_app", "app_id", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    event_seq: Mapped[int] = mapped_column(
        ForeignKey("outbox_events.seq", ondelete="CASCADE"), index=True
    )
    subscription_id: Mapped[int] = mapped_column(BigId, index=True)
    app_id: Mapped[int] = mapped_column(BigId)
    shop_id: Mapped[int | None] = mapped_column(BigId)
    url: Mapped[str] = mapped_column(String(2000))
    # The circuit this delivery waits on: one per endpoint URL of one app.
    endpoint_key: Mapped[str] = mapped_column(String(64), index=True)
    payload_version: Mapped[int] = mapped_column(Integer)
    status: Mapped[DeliveryStatus] = mapped_column(
        enum_column(DeliveryStatus, 16), default=DeliveryStatus.PENDING
    )
    attempt_count: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime]
    # Retries stop once the next one would fall after this; redelivery moves it.
    give_up_at: Mapped[datetime]
    # A claimed delivery is leased to one dispatcher; the token proves whose result it is.
    lease_until: Mapped[datetime | None]
    lease_token: Mapped[str | None] = mapped_column(String(32))
    delivered_at: Mapped[datetime | None]
    dead_at: Mapped[datetime | None]
    last_error: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class DeliveryAttempt(Base):
    __tablename__ = "webhook_attempts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    delivery_id: Mapped[int] = mapped_column(
        ForeignKey("webhook_deliveries.id", ondelete="CASCADE"), index=True
    )
    attempted_at: Mapped[datetime]
    # None when no HTTP answer came back (timeout, refused connection, refused URL).
    status_code: Mapped[int | None]
    latency_ms: Mapped[int] = mapped_column(Integer)
    error: Mapped[str] = mapped_column(Text, default="")


class EndpointCircuit(Base):
    """An endpoint's breaker. No row means closed with no failures."""

    __tablename__ = "endpoint_circuits"

    endpoint_key: Mapped[str] = mapped_column(String(64), primary_key=True)
    state: Mapped[CircuitState] = mapped_column(
        enum_column(CircuitState, 16), default=CircuitState.CLOSED
    )
    consecutive_failures: Mapped[int] = mapped_column(Integer, default=0)
    # OPEN: when a probe may go. HALF_OPEN: when the probe's lease runs out.
    retry_at: Mapped[datetime | None]
    opened_at: Mapped[datetime | None]
    updated_at: Mapped[datetime] = mapped_column(default=utcnow)
