"""Recording what Stripe did with a payout, shared by ``pay_run`` and the transfer webhooks.

- **paid**: the transfer exists. The payout takes the transfer's id, its statement becomes
  PAID, and the payout is posted to the ledger (debit partner payable, credit cash). The status
  change is a conditional update (``status != paid``), and the posting's source
  ``payout:<id>`` is unique, so however often a transfer is learnt of (the create answer, a
  lookup, a webhook, two concurrent pays) it is posted exactly once.
- **failed**: Stripe refused a pending payout; the reason is kept, the statement is FAILED.
- **reversed**: a paid transfer was reversed in full (``transfer.reversed``). The payout turns
  FAILED, a reversing ledger transaction (``payout-reversal:<id>``: debit cash, credit partner
  payable) gives the money back to the partner's balance, and the run is open again.

A run is PAID when every payable statement (frozen, net > 0) is paid; ``settle_run`` derives it.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import ColumnElement, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.ledger import Leg, account, post, post_payout
from marketplace.ledger_models import AccountKind, PostingKind
from marketplace.payout_models import Payout
from marketplace.settlement_models import PayoutStatus, RunStatus, SettlementRun, Statement
from marketplace.transfers import Transfer

__all__ = [
    "NO_ACCOUNT_REASON",
    "apply_transfer_event",
    "payable",
    "record_failed",
    "record_paid",
    "record_reversed",
    "run_payouts",
    "settle_run",
]

log = logging.getLogger("agora.marketplace.payouts")

NO_ACCOUNT_REASON = "NO_PAYOUT_ACCOUNT: the partner has no payout account."
PAID_EVENTS = frozenset({"transfer.created", "transfer.updated", "transfer.paid"})


def payable(run_id: int) -> list[ColumnElement[bool]]:
    """The statements of a run that pay something: frozen, with a positive net."""
    return [
        Statement.run_id == run_id,
        Statement.frozen_at.is_not(None),
        Statement.net_payable > 0,
    ]


async def _set_statement(session: AsyncSession, statement_id: int, status: PayoutStatus) -> None:
    query = update(Statement).where(Statement.id == statement_id)
    if status is not PayoutStatus.PAID:  # only a reversal takes a statement out of PAID
        query = query.where(Statement.payout_status != PayoutStatus.PAID)
    await session.execute(
        query.values(payout_status=status).execution_options(synchronize_session=False)
    )


async def record_paid(
    session: AsyncSession, payout_id: int, transfer_id: str, at: datetime
) -> bool:
    """The payout's transfer exists: PAID and posted, once. False when it was already paid."""
    changed = await session.execute(
        update(Payout)
        .where(Payout.id == payout_id, Payout.status != PayoutStatus.PAID)
        .values(
            status=PayoutStatus.PAID,
            stripe_transfer_id=transfer_id,
            failure_reason="",
            updated_at=at,
        )
        .execution_options(synchronize_session=False)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        return False
    payout = await session.get(Payout, payout_id, populate_existing=True)
    assert payout is not None
    statement_paid = await session.scalar(
        select(Statement.payout_status).where(Statement.id == payout.statement_id)
    )
    if statement_paid is PayoutStatus.PAID:  # another attempt paid it: money went twice
        log.warning("statement %s paid again by payout %s", payout.statement_id, payout.id)
    await _set_statement(session, payout.statement_id, PayoutStatus.PAID)
    await post_payout(session, payout.partner_id, payout.currency, payout.amount, payout.id, at)
    return True


async def record_failed(session: AsyncSession, payout_id: int, reason: str, at: datetime) -> bool:
    """Stripe refused the pending payout. False when it was no longer pending."""
    changed = await session.execute(
        update(Payout)
        .where(Payout.id == payout_id, Payout.status == PayoutStatus.PENDING)
        .values(status=PayoutStatus.FAILED, failure_reason=reason[:2000], updated_at=at)
        .execution_options(synchronize_session=False)
    )
    if not changed.rowcount:  # type: ignore[attr-defined]
        return False
    statement_id = await session.scalar(select(Payout.statement_id).where(Payout.id == payout_id))
    assert statement_id is not None
    await _set_statement(session, statement_id, PayoutStatus.FAILED)
    return True


async def record_reversed(session: AsyncSession, transfer: Transfer, at: datetime) -> bool:
    """A paid transfer was reversed in full: FAILED, the posting reversed, the run reopened."""
    payout = await session.scalar(
        select(Payout).where(Payout.stripe_transfer_id == transfer.id).with_for_update()
    )
    if payout is None or payout.status is not PayoutStatus.PAID:
        return False
    payout.status = PayoutStatus.FAILED
    payout.failure_reason = f"reversed: transfer {transfer.id} was reversed at Stripe."
    payout.updated_at = at
    cash = await account(session, AccountKind.CASH, payout.currency)
    payable_account = await account(
        session, AccountKind.PARTNER_PAYABLE, payout.currency, payout.partner_id
    )
    legs = [Leg(cash, payout.amount), Leg(payable_account, -payout.amount)]
    source = f"payout-reversal:{payout.id}"
    await post(session, PostingKind.REVERSAL, source, at, legs, memo=f"reverses payout:{payout.id}")
    await session.execute(
        update(Statement)
        .where(Statement.id == payout.statement_id)
        .values(payout_status=PayoutStatus.FAILED)
        .execution_options(synchronize_session=False)
    )
    await settle_run(session, payout.run_id)
    return True


async def settle_run(session: AsyncSession, run_id: int) -> RunStatus:
    """PAID when every payable statement is paid, else APPROVED; a draft stays a draft."""
    run = await session.get(SettlementRun, run_id, populate_existing=True)
    assert run is not None
    if run.status is RunStatus.DRAFT:
        return run.status
    unpaid = await session.scalar(
        select(func.count())
        .select_from(Statement)
        .where(*payable(run_id), Statement.payout_status != PayoutStatus.PAID)
    )
    run.status = RunStatus.APPROVED if unpaid else RunStatus.PAID
    await session.flush()
    return run.status


async def run_payouts(session: AsyncSession, run_id: int) -> Sequence[Payout]:
    """Every payout attempt of the run, by statement then attempt."""
    rows = await session.scalars(
        select(Payout)
        .where(Payout.run_id == run_id)
        .order_by(Payout.statement_id, Payout.attempt)
        .execution_options(populate_existing=True)
    )
    return rows.all()


async def _payout_of(session: AsyncSession, transfer: Transfer) -> Payout | None:
    payout = await session.scalar(select(Payout).where(Payout.stripe_transfer_id == transfer.id))
    if payout is None and transfer.payout_id is not None:
        payout = await session.get(Payout, transfer.payout_id)
        if payout is not None and payout.statement_id != transfer.statement_id:
            payout = None
    if payout is not None and (payout.amount, payout.currency.upper()) != (
        transfer.amount,
        transfer.currency,
    ):
        log.warning("transfer %s does not match payout %s; ignored", transfer.id, payout.id)
        return None
    return payout


async def apply_transfer_event(
    session: AsyncSession, kind: str, transfer: Transfer, at: datetime
) -> bool:
    """Apply one verified ``transfer.*`` event; True when it changed a payout."""
    if transfer.reversed or kind == "transfer.reversed":
        if not transfer.reversed:  # a partial reversal: the payout stands
            log.warning("transfer %s partially reversed; payout unchanged", transfer.id)
            return False
        return await record_reversed(session, transfer, at)
    payout = await _payout_of(session, transfer)
    if payout is None:
        return False
    if kind in PAID_EVENTS:
        changed = await record_paid(session, payout.id, transfer.id, at)
    elif kind == "transfer.failed":
        changed = await record_failed(session, payout.id, "failed: Stripe failed the transfer.", at)
    else:
        return False
    if changed:
        await settle_run(session, payout.run_id)
    return changed
