"""Refunding an app charge to the shop, and posting it to the ledger as it happens.

The refunded total of a charge can never pass its amount: the refund reserves its amount on the
charge with one conditional UPDATE, so concurrent refunds cannot both pass. Only collected,
real (not test) charges are refunded. The ledger entry splits the refund by the charge's own
share at earning time; if the charge's statement is already frozen, the next statement shows it
as a clawback naming that statement.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import update
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import SessionFactory
from app.errors import DomainError
from marketplace.billing_models import Charge, ChargeStatus
from marketplace.errors import MarketplaceErrorCode
from marketplace.idempotent import run_keyed
from marketplace.ledger import post_refund
from marketplace.settlement_models import ChargeRefund

__all__ = ["RefundRequest", "refund_charge_once"]


@dataclass(frozen=True, slots=True)
class RefundRequest:
    charge_id: int
    amount: int
    reason: str
    actor: str
    key: str


async def _refund(session: AsyncSession, request: RefundRequest, now: datetime) -> int:
    if request.amount <= 0:
        raise DomainError.one(MarketplaceErrorCode.INVALID, "Refund more than zero.", "amount")
    charge = await session.get(Charge, request.charge_id)
    if charge is None:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such charge.", "chargeId")
    if charge.status is not ChargeStatus.COLLECTED or charge.test:
        raise DomainError.one(
            MarketplaceErrorCode.WRONG_STATE,
            "Only a collected real charge is refunded.",
            "chargeId",
        )
    reserved = await session.execute(
        update(Charge)
        .where(
            Charge.id == charge.id,
            Charge.refunded_amount + request.amount <= Charge.amount,
        )
        .values(refunded_amount=Charge.refunded_amount + request.amount)
        .returning(Charge.id)
        .execution_options(synchronize_session=False)
    )
    if reserved.first() is None:
        raise DomainError.one(
            MarketplaceErrorCode.REFUND_EXCEEDS_CHARGE,
            "That is more than is left to refund on this charge.",
            "amount",
        )
    refund = ChargeRefund(
        charge_id=charge.id,
        amount=request.amount,
        currency=charge.currency,
        reason=request.reason[:2000],
        actor=request.actor,
        refunded_at=now,
    )
    session.add(refund)
    await session.flush()
    await post_refund(session, charge, refund.id, request.amount, now)
    return refund.id


async def refund_charge_once(
    writer: SessionFactory,
    request: RefundRequest,
    *,
    now: datetime,
    on_refunded: Callable[[AsyncSession, int], Awaitable[None]] | None = None,
) -> tuple[int, bool]:
    """``(refund id, replayed)``; ``on_refunded`` runs in the same transaction (the audit)."""

    async def effect(session: AsyncSession) -> dict[str, int]:
        refund_id = await _refund(session, request, now)
        if on_refunded is not None:
            await on_refunded(session, refund_id)
        return {"refund_id": refund_id}

    fingerprint = {"charge": request.charge_id, "amount": request.amount, "reason": request.reason}
    result, replayed = await run_keyed(
        writer, scope="charge-refund", key=request.key, request=fingerprint, effect=effect
    )
    return result["refund_id"], replayed
