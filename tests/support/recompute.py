"""Recomputing statements from scratch: a partner's ledger copied to a database of its own.

``LedgerCopy`` holds a migrated throwaway database. ``copy_ledger`` moves what settlement reads
(the partners, their charges, and every ledger transaction, entry and account of those
charges) with the same keys, and nothing else: no statement, run or audit row comes along. The
charges' shops and installations stay behind, so the copy is written with foreign keys off on
SQLite and without those two constraints on PostgreSQL (the database is thrown away after).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from sqlalchemy import Table, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

from app.config import Settings
from app.db import Database
from app.migrate import upgrade
from marketplace.billing_models import Charge
from marketplace.ledger_models import LedgerAccount, LedgerEntry, LedgerTransaction
from marketplace.models import Partner
from marketplace.settlement_models import SettlementRun, Statement, StatementLine
from tests.support.databases import fresh_database

__all__ = ["LedgerCopy", "StatementView", "copy_ledger", "ledger_copy", "statement_views"]

_DETACHED = ("fk_charges_installation_id_installations", "fk_charges_shop_id_shops")


@dataclass
class LedgerCopy:
    db: Database
    raw: AsyncEngine  # no foreign keys enforced on SQLite


@asynccontextmanager
async def ledger_copy(settings: Settings) -> AsyncIterator[LedgerCopy]:
    async with fresh_database(settings.resolved_database_url, settings.var_dir) as url:
        await anyio.to_thread.run_sync(upgrade, url)
        raw = create_async_engine(url)
        if not url.startswith("sqlite"):
            async with raw.begin() as connection:
                for name in _DETACHED:
                    await connection.execute(
                        text(f"ALTER TABLE charges DROP CONSTRAINT IF EXISTS {name}")
                    )
        db = Database.connect(settings, url)
        try:
            yield LedgerCopy(db, raw)
        finally:
            await db.dispose()
            await raw.dispose()


async def _rows(source: Database, table: Table, where: Any) -> list[dict[str, Any]]:
    async with source.reader() as session:
        return [dict(row._mapping) for row in await session.execute(select(table).where(where))]


async def copy_ledger(source: Database, target: LedgerCopy, partner_ids: Sequence[int]) -> None:
    partners = Partner.__table__
    charges = Charge.__table__
    entries = LedgerEntry.__table__
    found_charges = await _rows(source, charges, charges.c.partner_id.in_(partner_ids))
    charge_ids = [row["id"] for row in found_charges]
    found_entries = await _rows(source, entries, entries.c.charge_id.in_(charge_ids))
    transaction_ids = {row["transaction_id"] for row in found_entries}
    account_ids = {row["account_id"] for row in found_entries}
    async with target.raw.begin() as connection:
        known = set(await connection.scalars(select(LedgerAccount.__table__.c.id)))
        batches: list[tuple[Table, list[dict[str, Any]]]] = [
            (partners, await _rows(source, partners, partners.c.id.in_(partner_ids))),
            (charges, found_charges),
            (
                LedgerAccount.__table__,
                await _rows(
                    source,
                    LedgerAccount.__table__,
                    LedgerAccount.__table__.c.id.in_(account_ids - known),
                ),
            ),
            (
                LedgerTransaction.__table__,
                await _rows(
                    source,
                    LedgerTransaction.__table__,
                    LedgerTransaction.__table__.c.id.in_(transaction_ids),
                ),
            ),
            (entries, found_entries),
        ]
        for table, rows in batches:
            if rows:
                await connection.execute(insert(table), rows)


@dataclass(frozen=True)
class StatementView:
    """A statement as the database that made it cannot tell apart from another's."""

    partner_id: int
    currency: str
    period: str
    figures: tuple[int, ...]
    lines: tuple[tuple[Any, ...], ...]
    hash: str | None
    previous_hash: str | None


async def statement_views(db: Database, partner_ids: Sequence[int]) -> list[StatementView]:
    async with db.reader() as session:
        rows = (
            await session.execute(
                select(Statement, SettlementRun.period)
                .join(SettlementRun, SettlementRun.id == Statement.run_id)
                .where(Statement.partner_id.in_(partner_ids))
                .order_by(Statement.partner_id, Statement.currency, SettlementRun.starts_at)
            )
        ).all()
        periods = {statement.id: period for statement, period in rows}
        lines = (
            await session.scalars(
                select(StatementLine)
                .where(StatementLine.statement_id.in_(list(periods)))
                .order_by(StatementLine.charge_id, StatementLine.occurred_at, StatementLine.id)
            )
        ).all()
    by_statement: dict[int, list[tuple[Any, ...]]] = {key: [] for key in periods}
    for line in lines:
        original = periods.get(line.original_statement_id) if line.original_statement_id else None
        by_statement[line.statement_id].append(
            (
                line.kind,
                line.charge_id,
                line.gross,
                line.share_bps,
                line.partner_amount,
                line.fee,
                line.occurred_at,
                original,
            )
        )
    return [
        StatementView(
            partner_id=statement.partner_id,
            currency=statement.currency,
            period=period,
            figures=(
                statement.gross,
                statement.partner_amount,
                statement.fees,
                statement.refunds,
                statement.clawbacks,
                statement.carried_in,
                statement.net_payable,
            ),
            lines=tuple(by_statement[statement.id]),
            hash=statement.hash,
            previous_hash=statement.previous_hash,
        )
        for statement, period in rows
    ]
