"""Shipping zones and their rate tables.

A zone is a set of areas, each a country (``DE``) or one region of a country (``US-CA``, as in
ISO 3166-2). A rate belongs to one zone and applies while the cart's weight (grams) or
subtotal (minor units) lies in ``[min_value, max_value)``; ``max_value`` null means no upper
bound. A rate with ``free_over`` costs nothing once the subtotal reaches it.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    Enum,
    ForeignKey,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, utcnow

__all__ = ["RateBasis", "ShippingRate", "ShippingZone"]


class RateBasis(enum.StrEnum):
    WEIGHT = "weight"
    SUBTOTAL = "subtotal"


class ShippingZone(Base):
    __tablename__ = "shipping_zones"
    __table_args__ = (UniqueConstraint("shop_id", "name"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(120))
    areas: Mapped[list[str]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ShippingRate(Base):
    __tablename__ = "shipping_rates"
    __table_args__ = (
        UniqueConstraint("zone_id", "code"),
        CheckConstraint("amount >= 0", name="amount_not_negative"),
        CheckConstraint("min_value >= 0", name="min_not_negative"),
        CheckConstraint("max_value IS NULL OR max_value > min_value", name="max_above_min"),
        CheckConstraint("free_over IS NULL OR free_over >= 0", name="free_over_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    zone_id: Mapped[int] = mapped_column(
        ForeignKey("shipping_zones.id", ondelete="CASCADE"), index=True
    )
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(120))
    basis: Mapped[RateBasis] = mapped_column(
        Enum(RateBasis, native_enum=False, length=16, validate_strings=True)
    )
    min_value: Mapped[int] = mapped_column(BigInteger, default=0)
    max_value: Mapped[int | None] = mapped_column(BigInteger)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    free_over: Mapped[int | None] = mapped_column(BigInteger)
    min_delivery_days: Mapped[int | None]
    max_delivery_days: Mapped[int | None]
    active: Mapped[bool] = mapped_column(default=True)
    # A carrier-specific method ("DHL Express"); null for a method of the shop's own choosing.
    carrier_id: Mapped[int | None] = mapped_column(
        ForeignKey("carriers.id", ondelete="SET NULL"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
