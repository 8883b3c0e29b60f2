"""Settlement runs and the statements they freeze, and refunds of app charges.

A run covers one calendar month (in ``AGORA_SETTLEMENT_TZ``) and one currency, and holds one
statement per partner with anything in that period. Statements are computed from the ledger
and, once the run is approved by a second finance user, frozen: each stores a SHA-256 over its
canonical lines chained to the partner's previous statement, so a tampered row is found by
recomputing the chain.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, enum_column, utcnow

__all__ = [
    "ChargeRefund",
    "LineKind",
    "PayoutStatus",
    "RunStatus",
    "SettlementRun",
    "Statement",
    "StatementLine",
]


class RunStatus(enum.StrEnum):
    DRAFT = "draft"
    APPROVED = "approved"
    PAID = "paid"


class PayoutStatus(enum.StrEnum):
    NONE = "none"  # nothing to pay (zero or negative net)
    PENDING = "pending"
    PAID = "paid"
    FAILED = "failed"


class LineKind(enum.StrEnum):
    CHARGE = "charge"
    REFUND = "refund"
    CLAWBACK = "clawback"


class SettlementRun(Base):
    __tablename__ = "settlement_runs"
    __table_args__ = (UniqueConstraint("period", "currency"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    period: Mapped[str] = mapped_column(String(7))  # "2026-11"
    currency: Mapped[str] = mapped_column(String(3))
    timezone: Mapped[str] = mapped_column(String(64))
    starts_at: Mapped[datetime]
    ends_at: Mapped[datetime]
    status: Mapped[RunStatus] = mapped_column(enum_column(RunStatus, 16), default=RunStatus.DRAFT)
    created_by: Mapped[str] = mapped_column(String(120))
    approved_by: Mapped[str | None] = mapped_column(String(120))
    approved_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Statement(Base):
    __tablename__ = "statements"
    __table_args__ = (UniqueConstraint("run_id", "partner_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("settlement_runs.id"), index=True)
    partner_id: Mapped[int] = mapped_column(ForeignKey("partners.id"), index=True)
    currency: Mapped[str] = mapped_column(String(3))
    gross: Mapped[int] = mapped_column(BigInteger, default=0)
    partner_amount: Mapped[int] = mapped_column(BigInteger, default=0)
    fees: Mapped[int] = mapped_column(BigInteger, default=0)
    refunds: Mapped[int] = mapped_column(BigInteger, default=0)
    clawbacks: Mapped[int] = mapped_column(BigInteger, default=0)
    carried_in: Mapped[int] = mapped_column(BigInteger, default=0)
    net_payable: Mapped[int] = mapped_column(BigInteger, default=0)
    hash: Mapped[str | None] = mapped_column(String(64))
    previous_hash: Mapped[str | None] = mapped_column(String(64))
    frozen_at: Mapped[datetime | None]
    payout_status: Mapped[PayoutStatus] = mapped_column(
        enum_column(PayoutStatus, 16), default=PayoutStatus.NONE
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class StatementLine(Base):
    __tablename__ = "statement_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    statement_id: Mapped[int] = mapped_column(
        ForeignKey("statements.id", ondelete="CASCADE"), index=True
    )
    kind: Mapped[LineKind] = mapped_column(enum_column(LineKind, 16))
    charge_id: Mapped[int | None] = mapped_column(ForeignKey("charges.id"))
    gross: Mapped[int] = mapped_column(BigInteger)
    share_bps: Mapped[int]
    partner_amount: Mapped[int] = mapped_column(BigInteger)
    fee: Mapped[int] = mapped_column(BigInteger)
    occurred_at: Mapped[datetime]
    # Clawback lines name the statement that paid out the original charge.
    original_statement_id: Mapped[int | None] = mapped_column(ForeignKey("statements.id"))


class ChargeRefund(Base):
    """Money given back to a shop for an app charge; posted to the ledger when it happens."""

    __tablename__ = "charge_refunds"
    __table_args__ = (CheckConstraint("amount > 0", name="amount_positive"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    charge_id: Mapped[int] = mapped_column(ForeignKey("charges.id"), index=True)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    reason: Mapped[str] = mapped_column(Text, default="")
    actor: Mapped[str] = mapped_column(String(120))
    refunded_at: Mapped[datetime]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
