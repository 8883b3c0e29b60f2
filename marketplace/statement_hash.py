"""Tamper evidence: each frozen statement's SHA-256, chained to the partner's previous one.

**The canonical form** of a statement is UTF-8 JSON text, one JSON document per line (``\\n``
after each), compact (no spaces) and with sorted keys, as ``orjson`` writes it:

- first the header: ``{"carried_in", "clawbacks", "currency", "ends_at", "fees", "gross",
  "net_payable", "partner", "partner_amount", "period", "previous_hash", "refunds",
  "starts_at", "v": 1}``: the statement's totals as integers in minor units, the partner's
  id, the run's period and its bounds, and the previous statement's hash (or null);
- then one array per line: ``[kind, charge, gross, share_bps, partner_amount, fee,
  occurred_at, original_period]``, in the order of those fields (the kind as stored,
  ``"CHARGE"``, ``"REFUND"``, ``"CLAWBACK"``; ``original_period`` is the period of the
  statement a clawback names, or null).

Times are UTC ISO 8601 with microseconds (``2031-11-05T12:00:00.000000+00:00``). Lines are
in the order of their charge, then kind (charge, refund, clawback), time, gross, partner
amount, fee and share: lines equal in all of these are equal in every field, so the order
depends on the content only, and the database sorts it the same way on every engine. The form
names no surrogate key of its own (statements and lines are numbered by the database that
made them), so recomputing the statements from the same ledger in another database gives the
same hashes.

The hash is the hex SHA-256 of those bytes. ``previous_hash`` is the hash of the partner's
previous frozen statement in the same currency, so changing any frozen row, or dropping or
reordering a statement, breaks every hash after it. Lines are hashed as they are streamed in
that order, so a run of any size is frozen in constant memory.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import ColumnElement, Row, case, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from marketplace.settlement_models import LineKind, SettlementRun, Statement, StatementLine

__all__ = ["ChainCheck", "freeze_run", "statement_hashes", "verify_chain"]

FORM_VERSION = 1
_STREAM_CHUNK = 5_000


def _time(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def _header(statement: Statement, run: SettlementRun, previous_hash: str | None) -> bytes:
    return orjson.dumps(
        {
            "v": FORM_VERSION,
            "partner": statement.partner_id,
            "currency": statement.currency,
            "period": run.period,
            "starts_at": _time(run.starts_at),
            "ends_at": _time(run.ends_at),
            "gross": statement.gross,
            "partner_amount": statement.partner_amount,
            "fees": statement.fees,
            "refunds": statement.refunds,
            "clawbacks": statement.clawbacks,
            "carried_in": statement.carried_in,
            "net_payable": statement.net_payable,
            "previous_hash": previous_hash,
        },
        option=orjson.OPT_SORT_KEYS,
    )


def _line(row: Row[Any]) -> bytes:
    return orjson.dumps(
        [
            row.kind.name,
            row.charge_id,
            row.gross,
            row.share_bps,
            row.partner_amount,
            row.fee,
            _time(row.occurred_at),
            row.original_period,
        ]
    )


def _kind_rank() -> Any:
    return case(
        (StatementLine.kind == LineKind.CHARGE, 0),
        (StatementLine.kind == LineKind.REFUND, 1),
        else_=2,
    )


async def _lines(session: AsyncSession, which: ColumnElement[bool]) -> AsyncIterator[Row[Any]]:
    """The lines of the statements ``which`` selects, by statement, each in canonical order."""
    line = StatementLine
    original = aliased(Statement)
    original_run = aliased(SettlementRun)
    query = (
        select(
            line.statement_id,
            line.kind,
            line.charge_id,
            line.gross,
            line.share_bps,
            line.partner_amount,
            line.fee,
            line.occurred_at,
            original_run.period.label("original_period"),
        )
        .outerjoin(original, original.id == line.original_statement_id)
        .outerjoin(original_run, original_run.id == original.run_id)
        .where(line.statement_id.in_(select(Statement.id).where(which)))
        .order_by(line.statement_id, line.charge_id, _kind_rank(), line.occurred_at)
        .order_by(line.gross, line.partner_amount, line.fee, line.share_bps, line.id)
        .execution_options(yield_per=_STREAM_CHUNK)
    )
    result = await session.stream(query)
    async for row in result:
        yield row


async def statement_hashes(
    session: AsyncSession,
    statements: Sequence[tuple[Statement, SettlementRun]],
    previous: dict[int, str | None],
    which: ColumnElement[bool],
) -> dict[int, str]:
    """Each statement's hash by id, given the previous hash of each (by statement id);
    ``which`` selects the same statements in SQL."""
    by_id = {statement.id: (statement, run) for statement, run in statements}
    digests = {
        key: hashlib.sha256(_header(statement, run, previous.get(key)) + b"\n")
        for key, (statement, run) in by_id.items()
    }
    async for row in _lines(session, which):
        digests[row.statement_id].update(_line(row) + b"\n")
    return {key: digest.hexdigest() for key, digest in digests.items()}


async def _previous_hashes(session: AsyncSession, run: SettlementRun) -> dict[int, str | None]:
    """For each statement of the run, the hash of its partner's previous frozen statement."""
    earlier = aliased(Statement)
    earlier_run = aliased(SettlementRun)
    previous = (
        select(earlier.hash)
        .join(earlier_run, earlier_run.id == earlier.run_id)
        .where(
            earlier.partner_id == Statement.partner_id,
            earlier_run.currency == run.currency,
            earlier_run.starts_at < run.starts_at,
            earlier.frozen_at.is_not(None),
        )
        .order_by(earlier_run.starts_at.desc())
        .limit(1)
        .correlate(Statement)
        .scalar_subquery()
    )
    rows = await session.execute(select(Statement.id, previous).where(Statement.run_id == run.id))
    return {row[0]: row[1] for row in rows}


async def freeze_run(session: AsyncSession, run: SettlementRun, now: datetime) -> int:
    """Hash and freeze every statement of the run; returns how many were frozen."""
    statements = list(
        await session.scalars(
            select(Statement).where(Statement.run_id == run.id).order_by(Statement.id)
        )
    )
    if not statements:
        return 0
    previous = await _previous_hashes(session, run)
    pairs = [(statement, run) for statement in statements]
    hashes = await statement_hashes(session, pairs, previous, Statement.run_id == run.id)
    for statement in statements:
        statement.hash = hashes[statement.id]
        statement.previous_hash = previous.get(statement.id)
        statement.frozen_at = now
    await session.flush()
    return len(statements)


@dataclass(frozen=True, slots=True)
class ChainCheck:
    """The outcome of recomputing a partner's chain: where it first breaks, if it does."""

    valid: bool
    checked: int
    broken_statement_id: int | None = None
    reason: str = ""


async def verify_chain(
    session: AsyncSession, partner_id: int, currency: str, *, through: datetime | None = None
) -> ChainCheck:
    """Recompute every frozen statement of the partner in ``currency`` (up to the run that
    starts at ``through``), oldest first, against the stored hashes and links."""
    query = (
        select(Statement, SettlementRun)
        .join(SettlementRun, SettlementRun.id == Statement.run_id)
        .where(
            Statement.partner_id == partner_id,
            Statement.currency == currency,
            Statement.frozen_at.is_not(None),
        )
        .order_by(SettlementRun.starts_at, Statement.id)
    )
    if through is not None:
        query = query.where(SettlementRun.starts_at <= through)
    chain = [(statement, run) for statement, run in (await session.execute(query)).all()]
    stored = {statement.id: statement.previous_hash for statement, _ in chain}
    which = Statement.id.in_(list(stored))
    recomputed = await statement_hashes(session, chain, stored, which)
    expected_previous: str | None = None
    for statement, _ in chain:
        if statement.previous_hash != expected_previous:
            return ChainCheck(False, len(chain), statement.id, "previous hash does not match")
        if recomputed[statement.id] != statement.hash:
            return ChainCheck(False, len(chain), statement.id, "contents do not match the hash")
        expected_previous = statement.hash
    return ChainCheck(True, len(chain))
