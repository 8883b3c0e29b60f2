"""Reading the ledger for finance: accounts with their balances, and entries by filter.

Lists are keyset pages (``app.pagination``); everything a page shows is read in bulk for the
whole page (balances, the transactions' sources), so a page costs the same statements at any
size.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.pagination import KeysetOrder
from marketplace.ledger_models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    PostingKind,
)

__all__ = [
    "ACCOUNT_ORDER",
    "ENTRY_ORDER",
    "AccountFilter",
    "EntryFilter",
    "account_query",
    "accounts_by_id",
    "balances",
    "entry_query",
    "transactions_by_id",
]

ACCOUNT_ORDER = KeysetOrder("ledger-accounts", LedgerAccount.id, LedgerAccount.id, False, int)
"""Oldest account first: cash and fees accounts come before the partners that followed."""

ENTRY_ORDER = KeysetOrder("ledger-entries", LedgerEntry.id, LedgerEntry.id, True, int)
"""Newest posting first: entries are append-only, so ids follow the order of posting."""


@dataclass(frozen=True, slots=True)
class AccountFilter:
    kind: AccountKind | None = None
    currency: str | None = None
    partner_id: int | None = None


def account_query(given: AccountFilter) -> Select[tuple[LedgerAccount]]:
    query = select(LedgerAccount)
    if given.kind is not None:
        query = query.where(LedgerAccount.kind == given.kind)
    if given.currency is not None:
        query = query.where(LedgerAccount.currency == given.currency.upper())
    if given.partner_id is not None:
        query = query.where(LedgerAccount.partner_id == given.partner_id)
    return query


async def balances(session: AsyncSession, account_ids: Sequence[int]) -> dict[int, int]:
    """Each account's balance (debits positive), in one statement for the page."""
    if not account_ids:
        return {}
    rows = await session.execute(
        select(LedgerEntry.account_id, func.sum(LedgerEntry.amount))
        .where(LedgerEntry.account_id.in_(account_ids))
        .group_by(LedgerEntry.account_id)
    )
    return {account: int(total) for account, total in rows}


@dataclass(frozen=True, slots=True)
class EntryFilter:
    """Every field given narrows the list; ``occurred_to`` is exclusive."""

    account_id: int | None = None
    partner_id: int | None = None
    kind: PostingKind | None = None
    currency: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None


def entry_query(given: EntryFilter) -> Select[tuple[LedgerEntry]]:
    query = select(LedgerEntry)
    if given.account_id is not None:
        query = query.where(LedgerEntry.account_id == given.account_id)
    if given.partner_id is not None:
        query = query.where(LedgerEntry.partner_id == given.partner_id)
    if given.kind is not None:
        query = query.where(LedgerEntry.kind == given.kind)
    if given.currency is not None:
        query = query.where(LedgerEntry.currency == given.currency.upper())
    if given.occurred_from is not None:
        query = query.where(LedgerEntry.occurred_at >= given.occurred_from.astimezone(UTC))
    if given.occurred_to is not None:
        query = query.where(LedgerEntry.occurred_at < given.occurred_to.astimezone(UTC))
    return query


async def accounts_by_id(session: AsyncSession, pks: Sequence[int]) -> dict[int, LedgerAccount]:
    rows = await session.scalars(select(LedgerAccount).where(LedgerAccount.id.in_(pks)))
    return {row.id: row for row in rows}


async def transactions_by_id(
    session: AsyncSession, pks: Sequence[int]
) -> dict[int, LedgerTransaction]:
    rows = await session.scalars(select(LedgerTransaction).where(LedgerTransaction.id.in_(pks)))
    return {row.id: row for row in rows}
