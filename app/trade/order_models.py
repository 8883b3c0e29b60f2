"""Orders: a frozen snapshot of a cart, with three statuses that move independently.

``status`` is the order's life (OPEN, then COMPLETED, CANCELLED or EXPIRED), ``payment_status``
follows the money, and ``fulfillment_status`` is derived from shipments. Lines copy the title,
SKU and price at checkout, so renaming or repricing a product never rewrites an order.

The money columns carry their own invariants as CHECK constraints: the total is the lines plus
shipping, and refunds can never pass what was paid, whatever the code above does.
``refund_reserved`` counts refunds in flight as well as settled ones, which is what lets
concurrent refunds be refused by one conditional UPDATE.
"""

from __future__ import annotations

import enum
from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
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
    "FulfillmentStatus",
    "Order",
    "OrderAllocation",
    "OrderEvent",
    "OrderLine",
    "OrderNumberCounter",
    "OrderStatus",
    "PaymentMethod",
    "PaymentStatus",
]


class OrderStatus(enum.StrEnum):
    OPEN = "OPEN"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    EXPIRED = "EXPIRED"


class PaymentStatus(enum.StrEnum):
    UNPAID = "UNPAID"
    PAID = "PAID"
    FAILED = "FAILED"
    PARTIALLY_REFUNDED = "PARTIALLY_REFUNDED"
    REFUNDED = "REFUNDED"


class FulfillmentStatus(enum.StrEnum):
    UNFULFILLED = "UNFULFILLED"
    PARTIALLY_FULFILLED = "PARTIALLY_FULFILLED"
    FULFILLED = "FULFILLED"
    DELIVERED = "DELIVERED"


class PaymentMethod(enum.StrEnum):
    STRIPE = "STRIPE"
    BANK_TRANSFER = "BANK_TRANSFER"
    CASH_ON_DELIVERY = "CASH_ON_DELIVERY"


class Order(Base):
    __tablename__ = "orders"
    __table_args__ = (
        UniqueConstraint("shop_id", "number"),
        Index("ix_orders_shop_created", "shop_id", "created_at", "id"),
        CheckConstraint("total = subtotal + shipping_amount", name="total_adds_up"),
        CheckConstraint("subtotal >= 0 AND shipping_amount >= 0", name="amounts_not_negative"),
        CheckConstraint("paid_amount >= 0 AND paid_amount <= total", name="paid_within_total"),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= refund_reserved "
            "AND refund_reserved <= paid_amount",
            name="refunds_within_paid",
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    number: Mapped[int]
    cart_id: Mapped[int | None] = mapped_column(
        ForeignKey("carts.id", ondelete="SET NULL"), unique=True
    )
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL"), index=True
    )
    currency: Mapped[str] = mapped_column(String(3))
    subtotal: Mapped[int] = mapped_column(BigInteger)
    shipping_amount: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    paid_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    refund_reserved: Mapped[int] = mapped_column(BigInteger, default=0)
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[OrderStatus] = mapped_column(enum_column(OrderStatus), default=OrderStatus.OPEN)
    payment_status: Mapped[PaymentStatus] = mapped_column(
        enum_column(PaymentStatus), default=PaymentStatus.UNPAID
    )
    fulfillment_status: Mapped[FulfillmentStatus] = mapped_column(
        enum_column(FulfillmentStatus), default=FulfillmentStatus.UNFULFILLED
    )
    payment_method: Mapped[PaymentMethod] = mapped_column(enum_column(PaymentMethod))
    sealed_email: Mapped[str | None] = mapped_column(Text)
    email_index: Mapped[str | None] = mapped_column(String(64), index=True)
    sealed_phone: Mapped[str | None] = mapped_column(Text)
    shipping_address: Mapped[dict[str, Any]] = mapped_column(JSON)
    shipping_method_code: Mapped[str] = mapped_column(String(64))
    shipping_method_name: Mapped[str] = mapped_column(String(120))
    expires_at: Mapped[datetime | None] = mapped_column(index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class OrderLine(Base):
    __tablename__ = "order_lines"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint("total = unit_price * quantity", name="total_adds_up"),
        CheckConstraint(
            "refunded_quantity >= 0 AND refunded_quantity <= quantity", name="refunds_within"
        ),
        CheckConstraint(
            "fulfilled_quantity >= 0 AND fulfilled_quantity <= quantity", name="fulfilled_within"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    variant_id: Mapped[int | None] = mapped_column(
        ForeignKey("variants.id", ondelete="SET NULL"), index=True
    )
    product_title: Mapped[str] = mapped_column(String(255))
    variant_title: Mapped[str] = mapped_column(String(255), default="")
    sku: Mapped[str] = mapped_column(String(64))
    quantity: Mapped[int]
    unit_price: Mapped[int] = mapped_column(BigInteger)
    total: Mapped[int] = mapped_column(BigInteger)
    weight_grams: Mapped[int] = mapped_column(default=0)
    refunded_quantity: Mapped[int] = mapped_column(default=0)
    fulfilled_quantity: Mapped[int] = mapped_column(default=0)


class OrderAllocation(Base):
    """Units of one line held in one warehouse; released when the order is cancelled or
    expires, shipped when it is fulfilled."""

    __tablename__ = "order_allocations"
    __table_args__ = (
        CheckConstraint("quantity >= 1", name="quantity_positive"),
        CheckConstraint(
            "shipped_quantity >= 0 AND shipped_quantity <= quantity", name="shipped_within"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    line_id: Mapped[int] = mapped_column(
        ForeignKey("order_lines.id", ondelete="CASCADE"), index=True
    )
    # Null once the variant, and with it its stock rows, is deleted; the history stays.
    level_id: Mapped[int | None] = mapped_column(
        ForeignKey("inventory_levels.id", ondelete="SET NULL"), index=True
    )
    warehouse_id: Mapped[int | None] = mapped_column(
        ForeignKey("warehouses.id", ondelete="SET NULL")
    )
    quantity: Mapped[int]
    shipped_quantity: Mapped[int] = mapped_column(default=0)
    released_at: Mapped[datetime | None]


class OrderEvent(Base):
    """The order's history, append-only: what happened, who did it, and the facts."""

    __tablename__ = "order_events"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    order_id: Mapped[int] = mapped_column(ForeignKey("orders.id", ondelete="CASCADE"), index=True)
    kind: Mapped[str] = mapped_column(String(40))
    actor: Mapped[str] = mapped_column(String(120), default="")
    message: Mapped[str] = mapped_column(Text, default="")
    data: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class OrderNumberCounter(Base):
    """The last order number a shop handed out: one row per shop, bumped by one upsert."""

    __tablename__ = "order_number_counters"

    shop_id: Mapped[int] = mapped_column(
        ForeignKey("shops.id", ondelete="CASCADE"), primary_key=True
    )
    last_number: Mapped[int]
