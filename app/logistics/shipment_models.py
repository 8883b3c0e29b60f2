"""Carriers, shipments (one parcel each) and their tracking timelines.

A carrier's webhook deliveries land in ``carrier_events`` first, keyed by the carrier's event
id: that is the dedupe ledger and the place where an event for a tracking number we do not know
yet waits to be matched, so nothing a carrier sends is lost. Events that belong to a shipment
become ``tracking_events``, the timeline frontends show, ordered by when they happened rather
than when they arrived.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, enum_column, utcnow

__all__ = [
    "Carrier",
    "CarrierEvent",
    "Shipment",
    "ShipmentLine",
    "ShipmentStatus",
    "TrackingEvent",
]


class ShipmentStatus(enum.StrEnum):
    LABEL_CREATED = "LABEL_CREATED"
    PICKED_UP = "PICKED_UP"
    IN_TRANSIT = "IN_TRANSIT"
    OUT_FOR_DELIVERY = "OUT_FOR_DELIVERY"
    DELIVERED = "DELIVERED"
    EXCEPTION = "EXCEPTION"
    RETURNED = "RETURNED"
    CANCELLED = "CANCELLED"
    # Only on tracking events: a carrier code the carrier's mapping table does not know.
    UNKNOWN = "UNKNOWN"


class Carrier(Base):
    __tablename__ = "carriers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(120))
    # "https://track.example/{tracking_number}"
    tracking_url_template: Mapped[str] = mapped_column(String(500))
    # The webhook signing secrets, sealed; the previous one stays valid during a rotation.
    sealed_secret: Mapped[str] = mapped_column(Text)
    sealed_previous_secret: Mapped[str | None] = mapped_column(Text)
    # The carrier's status codes to ours: {"DLV": "DELIVERED", ...}
    status_map: Mapped[dict[str, str]] = mapped_column(JSON, default=dict)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class Shipment(Base):
    __tablename__ = "shipments"
    __table_args__ = (
        UniqueConstraint("carrier_id", "tracking_number"),
        Index("ix_shipments_shop_created", "shop_id", "created_at", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    carrier_id: Mapped[int] = mapped_column(ForeignKey("carriers.id"))
    warehouse_id: Mapped[int | None] = mapped_column(
        ForeignKey("warehouses.id", ondelete="SET NULL")
    )
    tracking_number: Mapped[str] = mapped_column(String(64))
    status: Mapped[ShipmentStatus] = mapped_column(
        enum_column(ShipmentStatus), default=ShipmentStatus.LABEL_CREATED
    )
    # When the event that set ``status`` happened: older events never move it.
    status_at: Mapped[datetime]
    estimated_delivery: Mapped[datetime | None]
    delivered_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ShipmentLine(Base):
    __tablename__ = "shipment_lines"
    __table_args__ = (CheckConstraint("quantity >= 1", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(
        ForeignKey("shipments.id", ondelete="CASCADE"), index=True
    )
    order_line_id: Mapped[int] = mapped_column(
        ForeignKey("order_lines.id", ondelete="CASCADE"), index=True
    )
    quantity: Mapped[int]


class CarrierEvent(Base):
    """Every webhook delivery a carrier made, once per event id, matched or waiting."""

    __tablename__ = "carrier_events"
    __table_args__ = (
        UniqueConstraint("carrier_id", "event_id"),
        Index("ix_carrier_events_waiting", "carrier_id", "tracking_number", "shipment_id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    carrier_id: Mapped[int] = mapped_column(ForeignKey("carriers.id", ondelete="CASCADE"))
    event_id: Mapped[str] = mapped_column(String(128))
    tracking_number: Mapped[str] = mapped_column(String(64))
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    shipment_id: Mapped[int | None] = mapped_column(ForeignKey("shipments.id", ondelete="SET NULL"))
    # Why it did not become part of a timeline, when it did not (an illegal transition).
    refusal: Mapped[str] = mapped_column(String(64), default="")
    received_at: Mapped[datetime] = mapped_column(default=utcnow)


class TrackingEvent(Base):
    __tablename__ = "tracking_events"
    __table_args__ = (Index("ix_tracking_events_timeline", "shipment_id", "occurred_at", "id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shipment_id: Mapped[int] = mapped_column(ForeignKey("shipments.id", ondelete="CASCADE"))
    carrier_event_id: Mapped[int | None] = mapped_column(
        ForeignKey("carrier_events.id", ondelete="SET NULL")
    )
    occurred_at: Mapped[datetime]
    status: Mapped[ShipmentStatus] = mapped_column(enum_column(ShipmentStatus))
    raw_code: Mapped[str] = mapped_column(String(64), default="")
    location: Mapped[str] = mapped_column(String(200), default="")
    description: Mapped[str] = mapped_column(Text, default="")
    # True when this event moved the shipment's status (false: older, or unknown code).
    applied: Mapped[bool] = mapped_column(default=False)
    received_at: Mapped[datetime] = mapped_column(default=utcnow)
