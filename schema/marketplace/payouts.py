"""Payouts through GraphQL: finance pays approved runs; a partner's owner makes its account.

``settlementRunPay`` (finance) transfers every payable statement of an approved run through
Stripe Connect; a statement that could not be paid is named in ``errors`` (NO_PAYOUT_ACCOUNT,
PAYOUT_FAILED, PAYOUT_PENDING) while the others are paid, and paying again retries only those.
Its audit record is written with the payouts it is about to attempt, before Stripe is called.
``partnerPayoutAccountCreate`` (the partner's owner) is idempotent per partner.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.errors import DomainError
from app.security.audit import jsonable
from marketplace.payout_accounts import PayoutAccount, create_payout_account, payout_account
from marketplace.payout_models import Payout as PayoutRow
from marketplace.payout_records import run_payouts
from marketplace.payouts import PayRunResult, pay_run
from marketplace.settlement_models import PayoutStatus, RunStatus, SettlementRun
from schema.auditing import Audit, record_change
from schema.marketplace.common import (
    MarketplaceError,
    MarketplaceErrorCodeEnum,
    marketplace_errors,
    partner_of_partner,
    pk_of,
)
from schema.money import Money
from schema.node import decode_id, encode_id
from schema.permissions import requires

__all__ = [
    "PartnerPayoutAccount",
    "Payout",
    "PayoutMutation",
    "PayoutQuery",
    "PayoutStatusEnum",
    "SettlementRunStatusEnum",
]

# The same names as schema/marketplace/settlement_types.py gives these enums.
PayoutStatusEnum = strawberry.enum(PayoutStatus, name="StatementPayoutStatus")
SettlementRunStatusEnum = strawberry.enum(RunStatus, name="SettlementRunStatus")


@strawberry.type(description="One attempt at paying a statement: a Stripe Connect transfer.")
class Payout:
    id: strawberry.ID
    statement_id: strawberry.ID
    settlement_run_id: strawberry.ID
    partner_id: strawberry.ID
    attempt: int = strawberry.field(description="1, 2, ...: the idempotency key names it.")
    amount: Money
    status: PayoutStatusEnum  # type: ignore[valid-type]
    stripe_transfer_id: str | None
    failure_reason: str = strawberry.field(description="Why Stripe refused; empty otherwise.")
    created_at: datetime
    updated_at: datetime

    @classmethod
    def of(cls, row: PayoutRow) -> Payout:
        return cls(
            id=encode_id("Payout", row.id),
            statement_id=encode_id("Statement", row.statement_id),
            settlement_run_id=encode_id("SettlementRun", row.run_id),
            partner_id=encode_id("Partner", row.partner_id),
            attempt=row.attempt,
            amount=Money.of(row.amount, row.currency),
            status=row.status,
            stripe_transfer_id=row.stripe_transfer_id,
            failure_reason=row.failure_reason,
            created_at=row.created_at,
            updated_at=row.updated_at,
        )


@strawberry.type(description="The partner's Stripe Connect account, where payouts go.")
class PartnerPayoutAccount:
    partner_id: strawberry.ID
    stripe_account_id: str


@strawberry.type
class SettlementRunPayPayload:
    settlement_run_id: strawberry.ID | None
    status: SettlementRunStatusEnum | None  # type: ignore[valid-type]
    payouts: list[Payout] = strawberry.field(description="Every attempt, by statement.")
    errors: list[MarketplaceError] = strawberry.field(
        description="One per statement left unpaid (field: statements, its ID), or a refusal."
    )


@strawberry.type
class PartnerPayoutAccountCreatePayload:
    payout_account: PartnerPayoutAccount | None
    created: bool = strawberry.field(description="False when the account existed already.")
    errors: list[MarketplaceError]


async def _pay_state(session: AsyncSession, run_id: int) -> Any:
    run = await session.get(SettlementRun, run_id, populate_existing=True)
    if run is None:
        return None
    payouts = await run_payouts(session, run_id)
    return {"run": jsonable(run), "payouts": [jsonable(p) for p in payouts]}


async def _account_state(session: AsyncSession, partner_id: int) -> Any:
    return jsonable(await payout_account(session, partner_id))


def _pay_payload(result: PayRunResult) -> SettlementRunPayPayload:
    errors = [
        MarketplaceError(
            field=["statements", str(encode_id("Statement", problem.statement_id))],
            message=problem.message,
            code=MarketplaceErrorCodeEnum(problem.code.value),
        )
        for problem in result.problems
    ]
    return SettlementRunPayPayload(
        settlement_run_id=encode_id("SettlementRun", result.run_id),
        status=result.status,
        payouts=[Payout.of(row) for row in result.payouts],
        errors=errors,
    )


@strawberry.type
class PayoutQuery:
    @strawberry.field(
        extensions=requires("statement", "read", domain="platform"),
        description="Every payout attempt of a settlement run (finance).",
    )
    async def settlement_run_payouts(self, info: Info, run_id: strawberry.ID) -> list[Payout]:
        run = decode_id(str(run_id), "SettlementRun", argument="runId")
        async with info.context.db.reader() as session:
            return [Payout.of(row) for row in await run_payouts(session, run)]

    @strawberry.field(
        extensions=requires("statement", "read", domain="partner", partner_of=partner_of_partner()),
        description="The partner's payout account, if it has one (its owner).",
    )
    async def partner_payout_account(
        self, info: Info, partner_id: strawberry.ID
    ) -> PartnerPayoutAccount | None:
        partner = decode_id(str(partner_id), "Partner", argument="partnerId")
        async with info.context.db.reader() as session:
            row = await payout_account(session, partner)
        if row is None:
            return None
        return PartnerPayoutAccount(partner_id=partner_id, stripe_account_id=row.stripe_account_id)


@strawberry.type
class PayoutMutation:
    @strawberry.mutation(
        extensions=requires("settlement_run", "pay", domain="platform"),
        description="Pay an approved run's statements through Stripe Connect (finance). Paying "
        "again retries only what is unpaid, after looking Stripe up: nothing is paid twice.",
    )
    async def settlement_run_pay(
        self, info: Info, run_id: strawberry.ID
    ) -> SettlementRunPayPayload | None:
        context = info.context
        audit: Audit[int] = Audit(
            "SettlementRun", _pay_state, target=lambda key: key, domain="platform"
        )
        try:
            run = pk_of(run_id, "SettlementRun", "runId")
            async with context.db.reader() as session:
                before = await _pay_state(session, run)

            async def claimed(session: AsyncSession, key: int) -> None:
                await record_change(info, session, audit, key, before)

            marketplace = context.services.marketplace
            result = await pay_run(marketplace, run, marketplace.transfers, on_claimed=claimed)
        except DomainError as error:
            return SettlementRunPayPayload(
                settlement_run_id=None, status=None, payouts=[], errors=marketplace_errors(error)
            )
        return _pay_payload(result)

    @strawberry.mutation(
        extensions=requires(
            "payout_account", "write", domain="partner", partner_of=partner_of_partner()
        ),
        description="Create the partner's Stripe Connect account (its owner). Idempotent: a "
        "second call returns the same account.",
    )
    async def partner_payout_account_create(
        self, info: Info, partner_id: strawberry.ID
    ) -> PartnerPayoutAccountCreatePayload | None:
        context = info.context
        audit: Audit[PayoutAccount] = Audit(
            "PartnerPayoutAccount",
            _account_state,
            target=lambda made: made.partner_id,
            domain="partner",
        )

        async def done(session: AsyncSession, made: PayoutAccount) -> None:
            await record_change(info, session, audit, made, None)

        try:
            partner = pk_of(partner_id, "Partner", "partnerId")
            marketplace = context.services.marketplace
            made = await create_payout_account(
                marketplace, partner, marketplace.transfers, on_done=done
            )
        except DomainError as error:
            return PartnerPayoutAccountCreatePayload(
                payout_account=None, created=False, errors=marketplace_errors(error)
            )
        account = PartnerPayoutAccount(
            partner_id=encode_id("Partner", made.partner_id),
            stripe_account_id=made.stripe_account_id,
        )
        return PartnerPayoutAccountCreatePayload(
            payout_account=account, created=made.created, errors=[]
        )
