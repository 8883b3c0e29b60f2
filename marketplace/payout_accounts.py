"""A partner's Stripe Connect account, the destination of its payouts: one per partner.

Creation is idempotent per partner twice over: an account already recorded is returned without
asking Stripe, and Stripe is asked with the key ``agora-account-<partner id>``, so two
concurrent first calls (or a retry after a timeout, within Stripe's day of memory) get the same
account. The row is written after Stripe answered, outside any transaction during the call; a
concurrent writer's row wins and is returned.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError
from marketplace.errors import MarketplaceErrorCode
from marketplace.models import Partner
from marketplace.payout_models import PartnerPayoutAccount
from marketplace.services import MarketplaceServices
from marketplace.transfers import TransferError, TransferGateway, account_idempotency_key

__all__ = ["OnAccount", "PayoutAccount", "create_payout_account", "payout_account"]

OnAccount = Callable[[AsyncSession, "PayoutAccount"], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class PayoutAccount:
    partner_id: int
    stripe_account_id: str
    created: bool  # False: it existed already


async def payout_account(session: AsyncSession, partner_id: int) -> PartnerPayoutAccount | None:
    return await session.get(PartnerPayoutAccount, partner_id, populate_existing=True)


async def create_payout_account(
    services: MarketplaceServices,
    partner_id: int,
    gateway: TransferGateway | None,
    *,
    on_done: OnAccount | None = None,
) -> PayoutAccount:
    """The partner's account, made at Stripe on first call. ``on_done`` (the audit record)
    runs in the transaction that records it, or reads it when it existed already."""
    async with services.db.reader() as session:
        if await session.get(Partner, partner_id) is None:
            raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such partner.", "partnerId")
        existing = await payout_account(session, partner_id)
    if existing is None:
        if gateway is None:
            raise DomainError.one(
                MarketplaceErrorCode.PAYOUTS_NOT_CONFIGURED,
                "Payout accounts need Stripe, which is not configured.",
            )
        try:
            made = await gateway.create_account(partner_id, account_idempotency_key(partner_id))
        except TransferError as error:
            raise DomainError.one(
                MarketplaceErrorCode.STRIPE_ERROR,
                f"Stripe did not create the account: {error.reason}",
            ) from error
        try:
            async with services.db.writer() as session, session.begin():
                row = PartnerPayoutAccount(
                    partner_id=partner_id, stripe_account_id=made, created_at=services.clock()
                )
                session.add(row)
                await session.flush()
                result = PayoutAccount(partner_id, made, created=True)
                if on_done is not None:
                    await on_done(session, result)
                return result
        except IntegrityError:
            pass  # a concurrent call recorded it first
    async with services.db.writer() as session, session.begin():
        row = await payout_account(session, partner_id)
        assert row is not None
        result = PayoutAccount(partner_id, row.stripe_account_id, created=False)
        if on_done is not None:
            await on_done(session, result)
        return result
