"""Payouts: Stripe Connect transfers of frozen statements to partners' connected accounts.

A payout row is written and committed before Stripe is called, with the attempt number that its
idempotency key is derived from; what Stripe answered is recorded after. A crash in between
leaves a PENDING payout that the next ``pay`` resolves by looking the transfer up on Stripe.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, enum_column, utcnow
from marketplace.settlement_models import PayoutStatus

__all__ = ["PartnerPayoutAccount", "Payout"]


class PartnerPayoutAccount(Base):
    __tablename__ = "partner_payout_accounts"

    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), primary_key=True)
    stripe_account_id: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Payout(Base):
    __tablename__ = "payouts"
    __table_args__ = (
        UniqueConstraint("statement_id", "attempt"),
        CheckConstraint("amount > 0", name="amount_positive"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    statement_id: Mapped[int] = mapped_column(ForeignKey("statements.id"), index=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("settlement_runs.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"))
    attempt: Mapped[int]
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[PayoutStatus] = mapped_column(
        enum_column(PayoutStatus, 16), default=PayoutStatus.PENDING
    )
    stripe_transfer_id: Mapped[str | None] = mapped_column(String(64))
    failure_reason: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(default=utcnow, onupdate=utcnow)
