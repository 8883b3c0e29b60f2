"""Reading settlement: runs, statements and their lines, and a partner's earnings in a period.

Lists are keyset pages. A page of statements gets its lines through ``statement_lines``, which
numbers every statement's lines with a window function and reads the first page of each in one
statement, so nested pages never cost a statement per parent.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Select, and_, func, literal, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.pagination import KeysetOrder, Page
from marketplace.settlement import PeriodWindow
from marketplace.settlement_models import LineKind, SettlementRun, Statement, StatementLine
from marketplace.statements import line_kind, period_postings

__all__ = [
    "LINE_ORDER",
    "PARTNER_STATEMENT_ORDER",
    "RUN_ORDER",
    "RUN_STATEMENT_ORDER",
    "Earnings",
    "LinePageKey",
    "partner_earnings",
    "partner_statements_query",
    "run_query",
    "run_statements_query",
    "runs_by_id",
    "statement_lines",
    "statements_by_id",
]

RUN_ORDER = KeysetOrder(
    "settlement-runs", SettlementRun.starts_at, SettlementRun.id, True, datetime.fromisoformat
)
"""Latest period first."""

RUN_STATEMENT_ORDER = KeysetOrder("run-statements", Statement.partner_id, Statement.id, False, int)
"""A run's statements by partner."""

PARTNER_STATEMENT_ORDER = KeysetOrder("partner-statements", Statement.id, Statement.id, True, int)
"""Newest statement first: a currency's runs are made in period order."""

LINE_ORDER = KeysetOrder(
    "statement-lines", StatementLine.occurred_at, StatementLine.id, False, datetime.fromisoformat
)
"""A statement's lines in the order they happened."""

LinePageKey = tuple[int, int, tuple[datetime, int] | None]
"""(statement id, page size, the position to continue after)."""


def run_query(currency: str | None = None) -> Select[tuple[SettlementRun]]:
    query = select(SettlementRun)
    if currency is not None:
        query = query.where(SettlementRun.currency == currency.upper())
    return query


def run_statements_query(run_id: int) -> Select[tuple[Statement]]:
    return select(Statement).where(Statement.run_id == run_id)


def partner_statements_query(
    partner_id: int, currency: str | None = None
) -> Select[tuple[Statement]]:
    query = select(Statement).where(Statement.partner_id == partner_id)
    if currency is not None:
        query = query.where(Statement.currency == currency.upper())
    return query


async def runs_by_id(session: AsyncSession, pks: Sequence[int]) -> dict[int, SettlementRun]:
    rows = await session.scalars(select(SettlementRun).where(SettlementRun.id.in_(pks)))
    return {row.id: row for row in rows}


async def statements_by_id(session: AsyncSession, pks: Sequence[int]) -> dict[int, Statement]:
    rows = await session.scalars(select(Statement).where(Statement.id.in_(pks)))
    return {row.id: row for row in rows}


def _after(position: tuple[datetime, int]) -> Any:
    moment, key = position
    return or_(
        StatementLine.occurred_at > moment,
        and_(StatementLine.occurred_at == moment, StatementLine.id > key),
    )


async def _line_pages(
    session: AsyncSession, statement_ids: Sequence[int], size: int, after: Any
) -> dict[int, list[StatementLine]]:
    position = (
        func.row_number()
        .over(
            partition_by=StatementLine.statement_id,
            order_by=(StatementLine.occurred_at, StatementLine.id),
        )
        .label("position")
    )
    ranked = select(StatementLine.id, position).where(StatementLine.statement_id.in_(statement_ids))
    if after is not None:
        ranked = ranked.where(_after(after))
    numbered = ranked.subquery()
    rows = await session.scalars(
        select(StatementLine)
        .join(numbered, numbered.c.id == StatementLine.id)
        .where(numbered.c.position <= size + 1)
        .order_by(StatementLine.statement_id, numbered.c.position)
    )
    found: dict[int, list[StatementLine]] = defaultdict(list)
    for row in rows:
        found[row.statement_id].append(row)
    return found


async def statement_lines(
    session: AsyncSession, keys: Sequence[LinePageKey]
) -> dict[LinePageKey, Page[StatementLine]]:
    """A page of lines for each key: one statement per distinct (size, after) in the keys."""
    groups: dict[tuple[int, Any], list[int]] = defaultdict(list)
    for statement_id, size, after in keys:
        groups[size, after].append(statement_id)
    pages: dict[LinePageKey, Page[StatementLine]] = {}
    for (size, after), statement_ids in groups.items():
        found = await _line_pages(session, statement_ids, size, after)
        for statement_id in statement_ids:
            rows = found.get(statement_id, [])
            kept = rows[:size]
            pages[statement_id, size, after] = Page(
                rows=kept,
                positions=[(row.occurred_at, row.id) for row in kept],
                has_next_page=len(rows) > size,
                has_previous_page=after is not None,
            )
    return pages


@dataclass
class Earnings:
    """A partner's period in one currency, from the ledger, as its statement would show it."""

    currency: str
    gross: int = 0
    partner_amount: int = 0
    fees: int = 0
    refunds: int = 0
    clawbacks: int = 0
    statement_id: int | None = None

    @property
    def net(self) -> int:
        return self.partner_amount - self.refunds - self.clawbacks


async def partner_earnings(
    session: AsyncSession, partner_id: int, window: PeriodWindow
) -> list[Earnings]:
    """Per currency, by currency code; with the period's statement when one was made."""
    postings = period_postings(window.starts_at, window.ends_at, partner_id=partner_id).subquery()
    kind = line_kind(postings, window.starts_at, lambda value: literal(value.value)).label("line")
    rows = await session.execute(
        select(
            postings.c.currency,
            kind,
            func.sum(postings.c.gross),
            func.sum(postings.c.partner_amount),
            func.sum(postings.c.fee),
        ).group_by(postings.c.currency, kind)
    )
    found: dict[str, Earnings] = {}
    for currency, line, gross, partner_amount, fee in rows:
        earned = found.setdefault(currency, Earnings(currency))
        if line == LineKind.CHARGE.value:
            earned.gross += int(gross)
            earned.partner_amount += int(partner_amount)
            earned.fees += int(fee)
        elif line == LineKind.REFUND.value:
            earned.refunds -= int(partner_amount)
        else:
            earned.clawbacks -= int(partner_amount)
    statements = await session.execute(
        select(Statement.currency, Statement.id)
        .join(SettlementRun, SettlementRun.id == Statement.run_id)
        .where(Statement.partner_id == partner_id, SettlementRun.period == window.period)
    )
    for currency, statement_id in statements:
        found.setdefault(currency, Earnings(currency)).statement_id = statement_id
    return [found[currency] for currency in sorted(found)]
