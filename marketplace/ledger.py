"""Posting to the ledger, as DESIGN.md's table says, and nothing else.

- charge collected, gross G = partner share P + fee F: debit cash G; credit partner_payable P
  and platform_fees F;
- refund R, split by the same rule into P_r + F_r: debit partner_payable P_r and platform_fees
  F_r; credit cash R;
- payout T to a partner: debit partner_payable T; credit cash T.

Debits are positive, credits negative. Every transaction is checked to balance to zero per
currency before it is written, and its ``source`` is unique, so the same business event is
never posted twice. Test charges (a sandbox's) are never posted: no money moved.

**The split** (``split_charge``) gives the partner ``G * bps / 10,000`` rounded by the largest
remainder: both sides are rounded down, and the unit left over goes to the side whose exact
amount had the larger fractional part; on a tie it goes to the partner. So the partner's amount
is never a whole unit off the exact share, and partner plus fee is always exactly the gross.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from marketplace.billing_models import Charge
from marketplace.ledger_models import (
    AccountKind,
    LedgerAccount,
    LedgerEntry,
    LedgerTransaction,
    PostingKind,
)

__all__ = [
    "Leg",
    "UnbalancedError",
    "account",
    "post",
    "post_collection",
    "post_payout",
    "post_refund",
    "split_charge",
    "unbalanced_transactions",
]

BPS = 10_000


class UnbalancedError(ValueError):
    """A transaction whose entries do not sum to zero in some currency: never written."""


def split_charge(gross: int, share_bps: int) -> tuple[int, int]:
    """``(partner, fee)``: partner + fee == gross, partner within one unit of the exact share."""
    if not 0 <= share_bps <= BPS:
        raise ValueError("a share is 0 to 10,000 basis points")
    partner, partner_rest = divmod(gross * share_bps, BPS)
    fee, fee_rest = divmod(gross * (BPS - share_bps), BPS)
    left = gross - partner - fee  # 0 or 1 (or -1 for negative gross, by floor division)
    if left:
        if partner_rest >= fee_rest:
            partner += left
        else:
            fee += left
    return partner, fee


def _key(kind: AccountKind, currency: str, partner_id: int | None) -> str:
    middle = f"{partner_id}:" if partner_id is not None else ""
    return f"{kind.value}:{middle}{currency}"


async def account(
    session: AsyncSession, kind: AccountKind, currency: str, partner_id: int | None = None
) -> LedgerAccount:
    """The account, made on first use (a concurrent first use finds the other's)."""
    if (kind is AccountKind.PARTNER_PAYABLE) != (partner_id is not None):
        raise ValueError("only partner payable accounts belong to a partner")
    key = _key(kind, currency, partner_id)
    found = await session.scalar(select(LedgerAccount).where(LedgerAccount.key == key))
    if found is not None:
        return found
    made = LedgerAccount(key=key, kind=kind, currency=currency, partner_id=partner_id)
    try:
        async with session.begin_nested():
            session.add(made)
            await session.flush()
    except IntegrityError:
        found = await session.scalar(select(LedgerAccount).where(LedgerAccount.key == key))
        assert found is not None
        return found
    return made


@dataclass(frozen=True, slots=True)
class Leg:
    """One entry to write: the account and the signed amount (debit +, credit -)."""

    account: LedgerAccount
    amount: int
    charge: Charge | None = None
    gross: int | None = None


async def post(
    session: AsyncSession,
    kind: PostingKind,
    source: str,
    occurred_at: datetime,
    legs: Sequence[Leg],
    *,
    memo: str = "",
) -> LedgerTransaction | None:
    """Write one balanced transaction; None when ``source`` was posted already."""
    totals: dict[str, int] = defaultdict(int)
    for leg in legs:
        totals[leg.account.currency] += leg.amount
    if any(totals.values()) or not legs:
        raise UnbalancedError(f"{source} does not balance: {dict(totals)}")
    if await session.scalar(select(LedgerTransaction.id).where(LedgerTransaction.source == source)):
        return None
    transaction = LedgerTransaction(kind=kind, source=source, occurred_at=occurred_at, memo=memo)
    session.add(transaction)
    await session.flush()
    session.add_all(
        LedgerEntry(
            transaction_id=transaction.id,
            account_id=leg.account.id,
            kind=kind,
            amount=leg.amount,
            currency=leg.account.currency,
            occurred_at=occurred_at,
            partner_id=leg.account.partner_id,
            charge_id=leg.charge.id if leg.charge else None,
            share_bps=leg.charge.share_bps if leg.charge else None,
            gross=leg.gross,
        )
        for leg in legs
        if leg.amount
    )
    await session.flush()
    return transaction


async def _accounts(
    session: AsyncSession, charge: Charge
) -> tuple[LedgerAccount, LedgerAccount, LedgerAccount]:
    return (
        await account(session, AccountKind.CASH, charge.currency),
        await account(session, AccountKind.PARTNER_PAYABLE, charge.currency, charge.partner_id),
        await account(session, AccountKind.PLATFORM_FEES, charge.currency),
    )


async def post_collection(session: AsyncSession, charge: Charge) -> LedgerTransaction | None:
    """A charge was collected (earned), at its frozen share."""
    if charge.test or charge.earned_at is None or charge.share_bps is None:
        return None
    cash, payable, fees = await _accounts(session, charge)
    partner, fee = split_charge(charge.amount, charge.share_bps)
    legs = [
        Leg(cash, charge.amount, charge, charge.amount),
        Leg(payable, -partner, charge, charge.amount),
        Leg(fees, -fee, charge, charge.amount),
    ]
    return await post(
        session, PostingKind.COLLECTION, f"collection:charge:{charge.id}", charge.earned_at, legs
    )


async def post_refund(
    session: AsyncSession, charge: Charge, refund_id: int, amount: int, at: datetime
) -> LedgerTransaction | None:
    """Money given back for a collected charge, split by the charge's own share."""
    if charge.test or charge.share_bps is None:
        return None
    cash, payable, fees = await _accounts(session, charge)
    partner, fee = split_charge(amount, charge.share_bps)
    legs = [
        Leg(payable, partner, charge, -amount),
        Leg(fees, fee, charge, -amount),
        Leg(cash, -amount, charge, -amount),
    ]
    return await post(session, PostingKind.REFUND, f"refund:charge-refund:{refund_id}", at, legs)


async def post_payout(
    session: AsyncSession, partner_id: int, currency: str, amount: int, payout_id: int, at: datetime
) -> LedgerTransaction | None:
    cash = await account(session, AccountKind.CASH, currency)
    payable = await account(session, AccountKind.PARTNER_PAYABLE, currency, partner_id)
    legs = [Leg(payable, amount), Leg(cash, -amount)]
    return await post(session, PostingKind.PAYOUT, f"payout:{payout_id}", at, legs)


async def unbalanced_transactions(session: AsyncSession) -> list[tuple[int, str, int]]:
    """Every (transaction, currency, sum) that does not balance: what the guard test scans."""
    rows = await session.execute(
        select(LedgerEntry.transaction_id, LedgerEntry.currency, func.sum(LedgerEntry.amount))
        .group_by(LedgerEntry.transaction_id, LedgerEntry.currency)
        .having(func.sum(LedgerEntry.amount) != 0)
    )
    return [(txn, currency, int(total)) for txn, currency, total in rows]
