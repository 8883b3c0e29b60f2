"""What installations cost: charges, and the usage records that add up to usage charges.

A charge is earned when the shop pays it (collected). It keeps the partner, the partner's tier
and revenue share at that moment, so a later tier change never rewrites what was earned.
``period_start`` plus ``kind`` make a charge unique per installation, which is what lets the
billing run be repeated for a date without charging twice.
"""

from __future__ import annotations

import enum
from datetime import date, datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, enum_column, utcnow
from marketplace.models import Tier

__all__ = ["Charge", "ChargeKind", "ChargeStatus", "UsageRecord"]


class ChargeKind(enum.StrEnum):
    ONE_TIME = "one_time"
    RECURRING = "recurring"
    USAGE = "usage"


class ChargeStatus(enum.StrEnum):
    PENDING = "pending"
    COLLECTED = "collected"
    FAILED = "failed"


class Charge(Base):
    __tablename__ = "charges"
    __table_args__ = (
        UniqueConstraint("installation_id", "kind", "period_start"),
        CheckConstraint("amount > 0", name="amount_positive"),
        CheckConstraint(
            "refunded_amount >= 0 AND refunded_amount <= amount", name="refunds_within"
        ),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    installation_id: Mapped[int] = mapped_column(
        ForeignKey("installations.id", ondelete="CASCADE"), index=True
    )
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    kind: Mapped[ChargeKind] = mapped_column(enum_column(ChargeKind, 16))
    period_start: Mapped[date]
    period_end: Mapped[date]
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    description: Mapped[str] = mapped_column(Text, default="")
    status: Mapped[ChargeStatus] = mapped_column(
        enum_column(ChargeStatus, 16), default=ChargeStatus.PENDING
    )
    # A sandbox shop's charges: shown, never collected for real, never settled.
    test: Mapped[bool] = mapped_column(default=False)
    # Set at collection (earning) time.
    tier: Mapped[Tier | None] = mapped_column(enum_column(Tier, 16))
    share_bps: Mapped[int | None]
    earned_at: Mapped[datetime | None] = mapped_column(index=True)
    stripe_invoice_id: Mapped[str | None] = mapped_column(String(255))
    # What was given back to the shop (charge refunds); never more than the amount.
    refunded_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class UsageRecord(Base):
    __tablename__ = "usage_records"
    __table_args__ = (CheckConstraint("quantity > 0", name="quantity_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    installation_id: Mapped[int] = mapped_column(
        ForeignKey("installations.id", ondelete="CASCADE"), index=True
    )
    period_start: Mapped[date] = mapped_column(index=True)
    quantity: Mapped[int]
    amount: Mapped[int] = mapped_column(BigInteger)
    description: Mapped[str] = mapped_column(String(500), default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
