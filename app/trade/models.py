"""Carts and their lines.

A cart is reached by its ID, which the GraphQL adapter signs so that only its holder can name
it; once a signed-in shopper owns a cart, only they can reach it. Each line remembers the unit
price it was added at, so the cart can warn when the price has changed since. The buyer's email,
phone and street lines are sealed (AES-GCM) like every personal datum at rest.

``version`` goes up with every change, so checkout can prove that the cart it priced and quoted
outside its transaction is the cart it turns into an order.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, utcnow

__all__ = ["MAX_LINES_PER_CART", "MAX_QUANTITY", "Cart", "CartLine"]

MAX_QUANTITY = 10_000
MAX_LINES_PER_CART = 100


class Cart(Base):
    __tablename__ = "carts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    user_id: Mapped[int | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    currency: Mapped[str] = mapped_column(String(3))
    version: Mapped[int] = mapped_column(default=0)
    sealed_email: Mapped[str | None] = mapped_column(Text)
    sealed_phone: Mapped[str | None] = mapped_column(Text)
    # {name, street1, street2 (both sealed), city, region, postal_code, country_code}
    shipping_address: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    shipping_method_code: Mapped[str | None] = mapped_column(String(64))
    checked_out_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class CartLine(Base):
    __tablename__ = "cart_lines"
    __table_args__ = (
        UniqueConstraint("cart_id", "variant_id"),
        CheckConstraint(f"quantity >= 1 AND quantity <= {MAX_QUANTITY}", name="quantity_range"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    cart_id: Mapped[int] = mapped_column(ForeignKey("carts.id", ondelete="CASCADE"))
    variant_id: Mapped[int] = mapped_column(
        ForeignKey("variants.id", ondelete="CASCADE"), index=True
    )
    quantity: Mapped[int]
    added_unit_price: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
