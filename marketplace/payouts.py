"""Paying a settlement run: one Stripe Connect transfer per payable statement.

``pay_run`` goes in four steps, and never calls Stripe inside a transaction:

1. **Read** the run. A draft is refused (NOT_APPROVED); a paid run is a no-op that returns its
   state. If any statement is left to pay and Stripe is not configured, the call is refused
   (PAYOUTS_NOT_CONFIGURED) before anything is written.
2. **Look up** the run's transfers at Stripe (``transfer_group = run-<id>``), because Stripe
   forgets idempotency keys after about a day: a statement whose transfer exists (by the
   metadata's statement id) is recorded paid and gets no new transfer.
3. **Claim**, in one committed transaction, before Stripe is called: a statement whose latest
   payout is PENDING (a timeout, a crash) is retried with *that* attempt's key; one with no
   payout, or a FAILED one, gets a new PENDING payout, attempt n + 1. A partner without a
   payout account gets a FAILED payout (NO_PAYOUT_ACCOUNT) and the others are still paid.
   ``on_claimed`` (the audit record) runs in this transaction.
4. **Transfer** each claim with ``agora-payout-<statement>-<attempt>`` and record the answer in
   its own transaction: paid (posted to the ledger once), failed with Stripe's reason, or left
   pending when no answer came. Then the run is PAID if every payable statement is.

A crash anywhere leaves PENDING payouts that the next pay (or a ``transfer.created`` webhook)
resolves through the lookup; nothing is paid twice, nothing is lost.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError
from app.observability.metrics import PAYOUT_DURATION, PAYOUT_FAILURES, timed
from marketplace.errors import MarketplaceErrorCode
from marketplace.payout_models import PartnerPayoutAccount, Payout
from marketplace.payout_records import (
    NO_ACCOUNT_REASON,
    payable,
    record_failed,
    record_paid,
    run_payouts,
    settle_run,
)
from marketplace.services import MarketplaceServices
from marketplace.settlement_models import PayoutStatus, RunStatus, SettlementRun, Statement
from marketplace.transfers import (
    Transfer,
    TransferError,
    TransferGateway,
    TransferRequest,
    transfer_group,
)

__all__ = ["OnClaimed", "PayRunResult", "StatementProblem", "pay_run"]

log = logging.getLogger("agora.marketplace.payouts")

OnClaimed = Callable[[AsyncSession, int], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class StatementProblem:
    """A payable statement this pay left unpaid, and why."""

    statement_id: int
    code: MarketplaceErrorCode
    message: str


@dataclass(frozen=True, slots=True)
class PayRunResult:
    run_id: int
    status: RunStatus
    payouts: Sequence[Payout]  # every attempt of the run, by statement then attempt
    problems: Sequence[StatementProblem]


async def _run(session: AsyncSession, run_id: int, *, lock: bool = False) -> SettlementRun:
    query = select(SettlementRun).where(SettlementRun.id == run_id)
    run = await session.scalar(query.with_for_update() if lock else query)
    if run is None:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such settlement run.", "runId")
    if run.status is RunStatus.DRAFT:
        raise DomainError.one(
            MarketplaceErrorCode.NOT_APPROVED, "Approve the run before paying it.", "runId"
        )
    return run


async def _unpaid(session: AsyncSession, run_id: int) -> list[Statement]:
    rows = await session.scalars(
        select(Statement)
        .where(*payable(run_id), Statement.payout_status != PayoutStatus.PAID)
        .order_by(Statement.id)
        .execution_options(populate_existing=True)
    )
    return list(rows)


async def _lookup(gateway: TransferGateway, run_id: int) -> dict[int, list[Transfer]]:
    """The run's live (not reversed) transfers at Stripe, by statement."""
    try:
        transfers = await gateway.find_transfers(transfer_group(run_id))
    except TransferError as error:
        raise DomainError.one(
            MarketplaceErrorCode.STRIPE_ERROR,
            f"Stripe could not be asked for earlier transfers; nothing was paid ({error.reason}).",
            "runId",
        ) from error
    found: dict[int, list[Transfer]] = {}
    for transfer in transfers:
        if transfer.statement_id is not None and not transfer.reversed:
            found.setdefault(transfer.statement_id, []).append(transfer)
    return found


def _owner(payouts: Sequence[Payout], transfer: Transfer) -> Payout | None:
    """The payout attempt a found transfer was made for (the latest if it names none)."""
    for payout in payouts:
        if transfer.payout_id == payout.id or (
            transfer.payout_id is None and transfer.attempt == payout.attempt
        ):
            return payout
    return payouts[-1] if payouts else None


async def _claim(
    session: AsyncSession, run_id: int, found: dict[int, list[Transfer]], now: datetime
) -> list[TransferRequest]:
    statements = await _unpaid(session, run_id)
    ids = [s.id for s in statements]
    attempts: dict[int, list[Payout]] = {}
    for payout in await session.scalars(
        select(Payout).where(Payout.statement_id.in_(ids)).order_by(Payout.attempt)
    ):
        attempts.setdefault(payout.statement_id, []).append(payout)
    partners = {s.partner_id for s in statements}
    rows = await session.execute(
        select(PartnerPayoutAccount.partner_id, PartnerPayoutAccount.stripe_account_id).where(
            PartnerPayoutAccount.partner_id.in_(partners)
        )
    )
    accounts: dict[int, str] = dict(rows.all())  # type: ignore[arg-type]
    claims: list[TransferRequest] = []
    for statement in statements:
        payouts = attempts.get(statement.id, [])
        latest = payouts[-1] if payouts else None
        destination = accounts.get(statement.partner_id)
        if live := found.get(statement.id):  # it was paid: record it, never pay again
            owner = _owner(payouts, live[0]) or await _new_payout(session, statement, None, now)
            await record_paid(session, owner.id, live[0].id, now)
        elif latest is not None and latest.status is PayoutStatus.PENDING:
            if destination is None:
                PAYOUT_FAILURES.labels(reason="no_payout_account").inc()
                await record_failed(session, latest.id, NO_ACCOUNT_REASON, now)
            else:  # unknown outcome and not found: the same attempt, the same key
                claims.append(_request(latest, destination))
                statement.payout_status = PayoutStatus.PENDING
        elif destination is None:
            if latest is None or latest.failure_reason != NO_ACCOUNT_REASON:
                PAYOUT_FAILURES.labels(reason="no_payout_account").inc()
                await _new_payout(session, statement, latest, now, failure=NO_ACCOUNT_REASON)
            statement.payout_status = PayoutStatus.FAILED
        else:
            payout = await _new_payout(session, statement, latest, now)
            claims.append(_request(payout, destination))
    await session.flush()
    return claims


async def _new_payout(
    session: AsyncSession,
    statement: Statement,
    latest: Payout | None,
    now: datetime,
    *,
    failure: str = "",
) -> Payout:
    """Attempt n + 1 of the statement: PENDING, or FAILED with ``failure``."""
    status = PayoutStatus.FAILED if failure else PayoutStatus.PENDING
    payout = Payout(
        statement_id=statement.id,
        run_id=statement.run_id,
        partner_id=statement.partner_id,
        attempt=(latest.attempt if latest else 0) + 1,
        amount=statement.net_payable,
        currency=statement.currency,
        status=status,
        failure_reason=failure,
        created_at=now,
        updated_at=now,
    )
    session.add(payout)
    await session.flush()
    statement.payout_status = status
    return payout


def _request(payout: Payout, destination: str) -> TransferRequest:
    return TransferRequest(
        run_id=payout.run_id,
        statement_id=payout.statement_id,
        payout_id=payout.id,
        attempt=payout.attempt,
        destination=destination,
        amount=payout.amount,
        currency=payout.currency,
    )


async def _transfer(
    services: MarketplaceServices, gateway: TransferGateway, claim: TransferRequest
) -> None:
    """One transfer, and Stripe's answer recorded in a transaction of its own."""
    try:
        transfer = await gateway.create_transfer(claim)
    except TransferError as error:
        PAYOUT_FAILURES.labels(reason="declined" if error.answered else "no_answer").inc()
        async with services.db.writer() as session, session.begin():
            if error.answered:
                await record_failed(session, claim.payout_id, error.reason, services.clock())
            else:
                log.warning("payout %s: no answer from Stripe (%s)", claim.payout_id, error)
        return
    async with services.db.writer() as session, session.begin():
        await record_paid(session, claim.payout_id, transfer.id, services.clock())


def _problems(statements: Sequence[Statement], payouts: Sequence[Payout]) -> list[StatementProblem]:
    latest = {p.statement_id: p for p in payouts}  # ordered by attempt: the last one wins
    problems = []
    for statement in statements:
        payout = latest.get(statement.id)
        if payout is None or payout.status is PayoutStatus.PAID:
            continue
        if payout.status is PayoutStatus.PENDING:
            code, message = MarketplaceErrorCode.PAYOUT_PENDING, "Stripe did not answer yet."
        elif payout.failure_reason == NO_ACCOUNT_REASON:
            code, message = MarketplaceErrorCode.NO_PAYOUT_ACCOUNT, "No payout account."
        else:
            code, message = MarketplaceErrorCode.PAYOUT_FAILED, payout.failure_reason
        problems.append(StatementProblem(statement.id, code, message))
    return problems


@timed(
    PAYOUT_DURATION,
    PAYOUT_FAILURES,
    failure_labels={"reason": "error"},
    refusals=(DomainError,),
)
async def pay_run(
    services: MarketplaceServices,
    run_id: int,
    gateway: TransferGateway | None,
    *,
    on_claimed: OnClaimed | None = None,
) -> PayRunResult:
    """Pay every payable statement of an approved run that is not paid yet; see the module doc."""
    async with services.db.reader() as session:
        await _run(session, run_id)
        unpaid = await _unpaid(session, run_id)
    found: dict[int, list[Transfer]] = {}
    if unpaid:
        if gateway is None:
            raise DomainError.one(
                MarketplaceErrorCode.PAYOUTS_NOT_CONFIGURED,
                "Payouts need Stripe, which is not configured.",
            )
        found = await _lookup(gateway, run_id)
    claims: list[TransferRequest] = []
    async with services.db.writer() as session, session.begin():
        await _run(session, run_id, lock=True)
        if unpaid:
            claims = await _claim(session, run_id, found, services.clock())
        if on_claimed is not None:
            await on_claimed(session, run_id)
    for claim in claims:
        assert gateway is not None
        await _transfer(services, gateway, claim)
    async with services.db.writer() as session, session.begin():
        status = await settle_run(session, run_id)
        payouts = await run_payouts(session, run_id)
        statements = (
            await session.scalars(select(Statement).where(*payable(run_id)).order_by(Statement.id))
        ).all()
    return PayRunResult(run_id, status, payouts, _problems(statements, payouts))
