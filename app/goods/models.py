"""Catalog and inventory tables.

``Product.price_min``/``price_max`` are kept by the service in the same transaction as any
variant change (an SQL aggregate, never a Python loop). Sorting and range filters on price then
use an index, and ``priceRange`` costs no extra query.
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
    Index,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, utcnow

__all__ = [
    "DEFAULT_LOW_STOCK_THRESHOLD",
    "MAX_IMAGES_PER_PRODUCT",
    "MAX_VARIANTS_PER_PRODUCT",
    "Category",
    "InventoryAdjustment",
    "InventoryLevel",
    "Product",
    "ProductImage",
    "ProductStatus",
    "Variant",
    "Warehouse",
]

MAX_IMAGES_PER_PRODUCT = 20
MAX_VARIANTS_PER_PRODUCT = 100
DEFAULT_LOW_STOCK_THRESHOLD = 5


class ProductStatus(enum.StrEnum):
    DRAFT = "draft"
    ACTIVE = "active"
    ARCHIVED = "archived"


class Category(Base):
    __tablename__ = "categories"
    __table_args__ = (UniqueConstraint("shop_id", "handle"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    parent_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="RESTRICT"), index=True
    )
    handle: Mapped[str] = mapped_column(String(100))
    name: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Product(Base):
    __tablename__ = "products"
    __table_args__ = (
        UniqueConstraint("shop_id", "handle"),
        Index("ix_products_shop_status_created", "shop_id", "status", "created_at", "id"),
        Index("ix_products_shop_status_title", "shop_id", "status", "title", "id"),
        Index("ix_products_shop_status_price", "shop_id", "status", "price_min", "id"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    handle: Mapped[str] = mapped_column(String(100))
    title: Mapped[str] = mapped_column(String(255))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ProductStatus] = mapped_column(
        Enum(ProductStatus, native_enum=False, length=16, validate_strings=True),
        default=ProductStatus.DRAFT,
    )
    category_id: Mapped[int | None] = mapped_column(
        ForeignKey("categories.id", ondelete="SET NULL"), index=True
    )
    brand: Mapped[str] = mapped_column(String(120), default="")
    option_names: Mapped[list[str]] = mapped_column(JSON, default=list)
    price_min: Mapped[int | None] = mapped_column(BigInteger)
    price_max: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class ProductImage(Base):
    __tablename__ = "product_images"
    __table_args__ = (UniqueConstraint("product_id", "position"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    url: Mapped[str] = mapped_column(String(2048))
    alt_text: Mapped[str] = mapped_column(String(255), default="")
    position: Mapped[int]


class Variant(Base):
    __tablename__ = "variants"
    __table_args__ = (
        UniqueConstraint("shop_id", "sku"),
        CheckConstraint("price_amount >= 0", name="price_not_negative"),
        CheckConstraint("compare_at_amount IS NULL OR compare_at_amount >= 0", name="compare_at"),
        Index("ix_variants_product_position", "product_id", "position"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id", ondelete="CASCADE"))
    sku: Mapped[str] = mapped_column(String(64))
    option_values: Mapped[list[str]] = mapped_column(JSON, default=list)
    price_amount: Mapped[int] = mapped_column(BigInteger)
    compare_at_amount: Mapped[int | None] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    weight_grams: Mapped[int] = mapped_column(default=0)
    position: Mapped[int] = mapped_column(default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Warehouse(Base):
    """A stock location."""

    __tablename__ = "warehouses"
    __table_args__ = (UniqueConstraint("shop_id", "code"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    code: Mapped[str] = mapped_column(String(64))
    name: Mapped[str] = mapped_column(String(200))
    country_code: Mapped[str] = mapped_column(String(2), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class InventoryLevel(Base):
    """Stock of one variant in one warehouse. ``reserved`` is held by open orders."""

    __tablename__ = "inventory_levels"
    __table_args__ = (
        UniqueConstraint("variant_id", "warehouse_id"),
        CheckConstraint("reserved >= 0", name="reserved_not_negative"),
        CheckConstraint("on_hand >= reserved", name="on_hand_covers_reserved"),
        CheckConstraint("low_stock_threshold >= 0", name="threshold_not_negative"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    variant_id: Mapped[int] = mapped_column(ForeignKey("variants.id", ondelete="CASCADE"))
    warehouse_id: Mapped[int] = mapped_column(
        ForeignKey("warehouses.id", ondelete="CASCADE"), index=True
    )
    on_hand: Mapped[int] = mapped_column(default=0)
    reserved: Mapped[int] = mapped_column(default=0)
    # inventory/below_threshold fires when available stock (on hand - reserved) falls from at
    # least this to below it; 0 turns the event off for this level.
    low_stock_threshold: Mapped[int] = mapped_column(default=DEFAULT_LOW_STOCK_THRESHOLD)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)


class InventoryAdjustment(Base):
    """The movement history of stock: one row per applied ``inventoryAdjust``."""

    __tablename__ = "inventory_adjustments"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"), index=True)
    level_id: Mapped[int] = mapped_column(
        ForeignKey("inventory_levels.id", ondelete="CASCADE"), index=True
    )
    delta: Mapped[int]
    on_hand_after: Mapped[int]
    reason: Mapped[str] = mapped_column(String(64))
    actor: Mapped[str] = mapped_column(String(120), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
