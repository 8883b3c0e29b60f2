"""The double-entry ledger: typed accounts, journal transactions, append-only entries.

Amounts are signed integers in minor units: a debit is positive, a credit negative, so every
transaction's entries sum to zero per currency. Each account holds one currency. A transaction
names its ``source`` (``collection:charge:12``), unique, so posting the same business event twice
is impossible; a correction is a new reversing transaction, never an edit, and the migration
adds triggers that refuse UPDATE and DELETE on both tables.
"""

from __future__ import annotations

import enum
from datetime import datetime

from sqlalchemy import BigInteger, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, enum_column, utcnow

__all__ = ["AccountKind", "LedgerAccount", "LedgerEntry", "LedgerTransaction", "PostingKind"]


class AccountKind(enum.StrEnum):
    CASH = "cash"  # the Stripe balance
    PLATFORM_FEES = "platform_fees"
    PARTNER_PAYABLE = "partner_payable"


class PostingKind(enum.StrEnum):
    COLLECTION = "collection"
    REFUND = "refund"
    PAYOUT = "payout"
    REVERSAL = "reversal"


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # "cash:EUR", "platform_fees:EUR", "partner_payable:12:EUR": one account per key.
    key: Mapped[str] = mapped_column(String(80), unique=True)
    kind: Mapped[AccountKind] = mapped_column(enum_column(AccountKind, 24))
    currency: Mapped[str] = mapped_column(String(3))
    partner_id: Mapped[int | None] = mapped_column(
        ForeignKey("partners.id", ondelete="RESTRICT"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerTransaction(Base):
    __tablename__ = "ledger_transactions"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    kind: Mapped[PostingKind] = mapped_column(enum_column(PostingKind, 16))
    source: Mapped[str] = mapped_column(String(120), unique=True)
    occurred_at: Mapped[datetime] = mapped_column(index=True)
    reverses_id: Mapped[int | None] = mapped_column(ForeignKey("ledger_transactions.id"))
    memo: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class LedgerEntry(Base):
    """One side of a transaction. Partner, charge and share are copied here so settlement can
    aggregate a partner's period in one statement without joining back to charges."""

    __tablename__ = "ledger_entries"
    __table_args__ = (
        Index("ix_ledger_entries_partner_time", "partner_id", "currency", "occurred_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    transaction_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_transactions.id", ondelete="RESTRICT"), index=True
    )
    account_id: Mapped[int] = mapped_column(
        ForeignKey("ledger_accounts.id", ondelete="RESTRICT"), index=True
    )
    kind: Mapped[PostingKind] = mapped_column(enum_column(PostingKind, 16))
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    occurred_at: Mapped[datetime]
    partner_id: Mapped[int | None] = mapped_column(ForeignKey("partners.id", ondelete="RESTRICT"))
    charge_id: Mapped[int | None] = mapped_column(
        ForeignKey("charges.id", ondelete="RESTRICT"), index=True
    )
    share_bps: Mapped[int | None]
    # The gross amount of the charge (or refund) this entry is a part of.
    gross: Mapped[int | None] = mapped_column(BigInteger)
