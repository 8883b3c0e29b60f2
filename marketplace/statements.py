"""Computing a run's statements from the ledger, in three set-based statements.

Nothing here loops over charges in Python: the database aggregates.

1. ``INSERT INTO statements ... SELECT``: one row per partner with a collection or refund
   posted in the period (in the run's currency), carrying in the partner's previous
   statement's net when it was negative.
2. ``INSERT INTO statement_lines ... SELECT``: one line per collection or refund transaction
   in the period, its parts read from the partner payable and platform fees entries of that
   transaction. A collection is a CHARGE line. A refund is a REFUND line when its charge was
   earned in this same period, and otherwise a CLAWBACK line naming the statement whose period
   holds the charge's earning.
3. ``UPDATE statements ... FROM`` the lines grouped by statement: the totals and the net,
   ``partner_amount - refunds - clawbacks + carried_in``. A negative net pays nothing and is
   carried into the partner's next statement.

Line amounts are signed as the partner sees them: a charge adds, a refund or clawback line
subtracts (its gross, partner amount and fee are negative). A statement's ``refunds`` and
``clawbacks`` are the partner parts given back, as positive numbers.

Payouts are ledger activity too, but they settle statements rather than make them, so they
are left out; so are test charges, which are never posted.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    Subquery,
    and_,
    case,
    func,
    insert,
    literal,
    null,
    select,
    type_coerce,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import aliased

from marketplace.billing_models import Charge
from marketplace.ledger_models import AccountKind, LedgerAccount, LedgerEntry, PostingKind
from marketplace.settlement_models import (
    LineKind,
    PayoutStatus,
    SettlementRun,
    Statement,
    StatementLine,
)

__all__ = ["STEPS", "build_statements", "line_kind", "period_postings"]

_LINE_KIND = StatementLine.__table__.c.kind.type
_PAYOUT_STATUS = Statement.__table__.c.payout_status.type


def _kind(value: LineKind) -> ColumnElement[Any]:
    """A line kind as SQL, bound through the column's own type (enums are stored by name)."""
    return literal(value, _LINE_KIND)


def period_postings(
    starts_at: datetime,
    ends_at: datetime,
    *,
    currency: str | None = None,
    partner_id: int | None = None,
) -> Select[Any]:
    """One row per collection or refund transaction in ``[starts_at, ends_at)``.

    Columns: the transaction, charge, partner, currency, the charge's earning time and tier,
    the posting kind and time, the gross (negative for a refund), the share, and the partner
    and fee parts as the partner is credited (negative for a refund). The partner comes from the
    charge, so a charge whose partner part rounds to nothing (no payable entry) still counts.
    """
    entry, account = LedgerEntry, LedgerAccount
    payable = func.sum(case((account.kind == AccountKind.PARTNER_PAYABLE, entry.amount), else_=0))
    fees = func.sum(case((account.kind == AccountKind.PLATFORM_FEES, entry.amount), else_=0))
    query = (
        select(
            entry.transaction_id,
            entry.charge_id,
            Charge.partner_id,
            entry.currency,
            Charge.earned_at,
            Charge.tier,
            entry.kind,
            func.min(entry.occurred_at).label("occurred_at"),
            func.max(entry.gross).label("gross"),
            func.max(entry.share_bps).label("share_bps"),
            (-payable).label("partner_amount"),
            (-fees).label("fee"),
        )
        .join(account, account.id == entry.account_id)
        .join(Charge, Charge.id == entry.charge_id)
        .where(
            entry.occurred_at >= starts_at,
            entry.occurred_at < ends_at,
            entry.kind.in_([PostingKind.COLLECTION, PostingKind.REFUND]),
        )
        .group_by(
            entry.transaction_id,
            entry.charge_id,
            Charge.partner_id,
            entry.currency,
            Charge.earned_at,
            Charge.tier,
            entry.kind,
        )
    )
    if currency is not None:
        query = query.where(entry.currency == currency)
    if partner_id is not None:
        query = query.where(Charge.partner_id == partner_id)
    return query


def _carried_in(partners: Subquery, run: SettlementRun) -> ColumnElement[Any]:
    """The net of the partner's latest earlier statement in the currency, when negative."""
    earlier_run = aliased(SettlementRun)
    earlier = aliased(Statement)
    previous_net = (
        select(earlier.net_payable)
        .join(earlier_run, earlier_run.id == earlier.run_id)
        .where(
            earlier.partner_id == partners.c.partner_id,
            earlier_run.currency == run.currency,
            earlier_run.starts_at < run.starts_at,
        )
        .order_by(earlier_run.starts_at.desc())
        .limit(1)
        .correlate(partners)
        .scalar_subquery()
    )
    return func.coalesce(case((previous_net < 0, previous_net), else_=0), 0)


async def _insert_statements(
    session: AsyncSession, run: SettlementRun, postings: Subquery, now: datetime
) -> None:
    partners = select(postings.c.partner_id).distinct().subquery()
    rows = select(
        literal(run.id),
        partners.c.partner_id,
        literal(run.currency),
        *(literal(0) for _ in range(5)),
        _carried_in(partners, run),
        literal(0),
        literal(PayoutStatus.NONE, _PAYOUT_STATUS),
        literal(now, Statement.__table__.c.created_at.type),
    )
    columns = [
        "run_id",
        "partner_id",
        "currency",
        "gross",
        "partner_amount",
        "fees",
        "refunds",
        "clawbacks",
        "carried_in",
        "net_payable",
        "payout_status",
        "created_at",
    ]
    await session.execute(insert(Statement).from_select(columns, rows))


def _original_statement(postings: Subquery, run: SettlementRun) -> ColumnElement[Any]:
    """The statement whose run's period holds the charge's earning (for a clawback line)."""
    earlier_run = aliased(SettlementRun)
    earlier = aliased(Statement)
    return (
        select(earlier.id)
        .join(earlier_run, earlier_run.id == earlier.run_id)
        .where(
            earlier.partner_id == postings.c.partner_id,
            earlier_run.currency == run.currency,
            earlier_run.starts_at <= postings.c.earned_at,
            earlier_run.ends_at > postings.c.earned_at,
        )
        .limit(1)
        .correlate(postings)
        .scalar_subquery()
    )


def line_kind(postings: Subquery, starts_at: datetime, value: Any = _kind) -> ColumnElement[Any]:
    """CHARGE for a collection; for a refund, REFUND when its charge was earned in the period
    (from ``starts_at``) and CLAWBACK when earlier. ``value`` turns a kind into SQL."""
    return case(
        (postings.c.kind == PostingKind.COLLECTION, value(LineKind.CHARGE)),
        (postings.c.earned_at >= starts_at, value(LineKind.REFUND)),
        else_=value(LineKind.CLAWBACK),
    )


async def _insert_lines(session: AsyncSession, run: SettlementRun, postings: Subquery) -> None:
    collected = postings.c.kind == PostingKind.COLLECTION
    same_period = postings.c.earned_at >= run.starts_at
    kind = line_kind(postings, run.starts_at)
    original = case(
        (and_(~collected, ~same_period), _original_statement(postings, run)),
        else_=null(),
    )
    statement = aliased(Statement)
    rows = select(
        statement.id,
        type_coerce(kind, _LINE_KIND),
        postings.c.charge_id,
        postings.c.gross,
        postings.c.share_bps,
        postings.c.partner_amount,
        postings.c.fee,
        postings.c.occurred_at,
        original,
    ).join(
        statement,
        and_(statement.run_id == run.id, statement.partner_id == postings.c.partner_id),
    )
    columns = [
        "statement_id",
        "kind",
        "charge_id",
        "gross",
        "share_bps",
        "partner_amount",
        "fee",
        "occurred_at",
        "original_statement_id",
    ]
    await session.execute(insert(StatementLine).from_select(columns, rows))


def _part(kind: LineKind, column: ColumnElement[int]) -> ColumnElement[Any]:
    return func.coalesce(func.sum(case((StatementLine.kind == kind, column), else_=0)), 0)


async def _total_statements(session: AsyncSession, run: SettlementRun) -> None:
    line = StatementLine
    totals = (
        select(
            line.statement_id,
            _part(LineKind.CHARGE, line.gross).label("gross"),
            _part(LineKind.CHARGE, line.partner_amount).label("partner_amount"),
            _part(LineKind.CHARGE, line.fee).label("fees"),
            (-_part(LineKind.REFUND, line.partner_amount)).label("refunds"),
            (-_part(LineKind.CLAWBACK, line.partner_amount)).label("clawbacks"),
        )
        .join(Statement, Statement.id == line.statement_id)
        .where(Statement.run_id == run.id)
        .group_by(line.statement_id)
        .subquery()
    )
    await session.execute(
        update(Statement)
        .where(Statement.id == totals.c.statement_id)
        .values(
            gross=totals.c.gross,
            partner_amount=totals.c.partner_amount,
            fees=totals.c.fees,
            refunds=totals.c.refunds,
            clawbacks=totals.c.clawbacks,
            net_payable=totals.c.partner_amount
            - totals.c.refunds
            - totals.c.clawbacks
            + Statement.carried_in,
        )
        .execution_options(synchronize_session=False)
    )


STEPS = ("statements", "lines", "totals")
"""What ``build_statements`` reports, in order, as each of its statements completes."""


async def build_statements(
    session: AsyncSession,
    run: SettlementRun,
    now: datetime,
    on_step: Callable[[str], None] | None = None,
) -> None:
    """Write the run's statements and lines; the run is flushed, its statements not yet made."""
    postings = period_postings(run.starts_at, run.ends_at, currency=run.currency).subquery()
    report = on_step or (lambda _: None)
    await _insert_statements(session, run, postings, now)
    report(STEPS[0])
    await _insert_lines(session, run, postings)
    report(STEPS[1])
    await _total_statements(session, run)
    report(STEPS[2])
