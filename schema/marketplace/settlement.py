"""Settlement through GraphQL: runs with maker-checker, statements, earnings and what-ifs.

- ``settlementRunCreate`` and ``settlementRunApprove`` are finance's (``settlement_run``
  create / approve on the platform), each audited; approval by the run's creator is refused
  (SEPARATION_OF_DUTIES). Periods are calendar months in ``AGORA_SETTLEMENT_TZ``.
- ``settlementRuns`` and ``settlementRun`` are finance's (``statement`` read on the platform).
- ``partnerStatements`` and ``partnerEarnings`` are for finance and for the partner's owner
  (``statement`` read in the partner): a partner sees its own and no other.
- ``settlementSimulate`` replays a period under proposed tier shares; it writes nothing, and is
  for finance and community admins (``settlement`` simulate on the platform).
- The ledger's reads and ``chargeRefund`` come from ``schema.marketplace.ledger``.
"""

from __future__ import annotations

from collections.abc import Callable

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.errors import DomainError
from app.pagination import fetch_page
from marketplace import settlement, settlement_reads
from marketplace.settlement_models import SettlementRun as RunRow
from marketplace.simulation import ShareOverride, simulate_period
from schema.auditing import Audit, change_recorder, row_state
from schema.errors import ApiErrorCode, api_error
from schema.marketplace.common import (
    MarketplaceError,
    marketplace_errors,
    partner_of_partner,
    pk_of,
)
from schema.marketplace.ledger import LedgerMutation, LedgerQuery
from schema.marketplace.partner_types import TierEnum
from schema.marketplace.settlement_types import PartnerEarnings, SettlementRun, Statement
from schema.marketplace.statement_access import finance_or_owner
from schema.money import Money
from schema.node import decode_id, encode_id
from schema.pagination import Connection, connection, page_request
from schema.permissions import requires
from schema.transactions import write

__all__ = [
    "SettlementMutation",
    "SettlementQuery",
    "earnings_of_partner",
    "statements_of_partner",
]

RUN_STATE = row_state(RunRow)


async def statements_of_partner(
    info: Info, partner: int, currency: str | None, first: int | None, after: str | None
) -> Connection[Statement]:
    """A partner's statements, newest first (``partnerStatements`` and ``Partner.statements``)."""
    codec = info.context.services.cursors
    order = settlement_reads.PARTNER_STATEMENT_ORDER
    request = page_request(codec, order, first=first, after=after, last=None, before=None)
    async with info.context.db.reader() as session:
        query = settlement_reads.partner_statements_query(partner, currency)
        page = await fetch_page(session, query, order, request)
    return connection(codec, order, page, Statement.of)


async def earnings_of_partner(info: Info, partner: int, period: str) -> list[PartnerEarnings]:
    """A partner's month per currency (``partnerEarnings`` and ``Partner.earnings``)."""
    timezone = info.context.services.settings.settlement_tz
    try:
        window = settlement.period_window(period, timezone)
    except DomainError:
        raise api_error(
            ApiErrorCode.BAD_USER_INPUT, "Give the period as YYYY-MM.", argument="period"
        ) from None
    async with info.context.db.reader() as session:
        found = await settlement_reads.partner_earnings(session, partner, window)
    return [PartnerEarnings.of(row) for row in found]


@strawberry.input(description="A proposed partner share for one tier, in basis points.")
class ShareOverrideInput:
    tier: TierEnum  # type: ignore[valid-type]
    share_bps: int


@strawberry.type(description="One partner's period as it was and as it would be.")
class SimulatedPartner:
    partner_id: strawberry.ID
    gross: Money
    actual_partner_amount: Money
    simulated_partner_amount: Money
    actual_fees: Money
    simulated_fees: Money
    actual_net: Money = strawberry.field(description="Partner amount less refunds, clawbacks.")
    simulated_net: Money


@strawberry.type(description="A period replayed under proposed shares; nothing was written.")
class SettlementSimulation:
    period: str
    currency: str
    partners: list[SimulatedPartner]


@strawberry.type
class SettlementRunPayload:
    run: SettlementRun | None
    replayed: bool = False
    errors: list[MarketplaceError]


async def _run(info: Info, key: int) -> SettlementRun | None:
    async with info.context.db.reader() as session:
        row = await session.get(RunRow, key)
    return SettlementRun.of(row) if row is not None else None


def _actor(info: Info) -> str:
    principal = info.context.principal
    return principal.subject if principal else "anonymous"


def _run_audit(before: Callable[[], int] | None = None) -> Audit[int]:
    return Audit(
        "SettlementRun", RUN_STATE, target=lambda key: key, before=before, domain="platform"
    )


@strawberry.type
class SettlementQuery(LedgerQuery):
    @strawberry.field(
        extensions=requires("statement", "read", domain="platform"),
        description="Settlement runs, latest period first (finance).",
    )
    async def settlement_runs(
        self,
        info: Info,
        currency: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[SettlementRun]:
        codec = info.context.services.cursors
        order = settlement_reads.RUN_ORDER
        request = page_request(codec, order, first=first, after=after, last=None, before=None)
        async with info.context.db.reader() as session:
            query = settlement_reads.run_query(currency)
            page = await fetch_page(session, query, order, request)
        return connection(codec, order, page, SettlementRun.of)

    @strawberry.field(
        extensions=requires("statement", "read", domain="platform"),
        description="One settlement run with its statements (finance).",
    )
    async def settlement_run(self, info: Info, id: strawberry.ID) -> SettlementRun | None:
        return await _run(info, decode_id(str(id), "SettlementRun"))

    @strawberry.field(
        extensions=finance_or_owner(partner_of_partner()),
        description="A partner's statements, newest first: for its owner and finance.",
    )
    async def partner_statements(
        self,
        info: Info,
        partner_id: strawberry.ID,
        currency: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Statement]:
        partner = decode_id(str(partner_id), "Partner", argument="partnerId")
        return await statements_of_partner(info, partner, currency, first, after)

    @strawberry.field(
        extensions=finance_or_owner(partner_of_partner()),
        description="What a partner earned in a period (YYYY-MM in the settlement time zone), "
        "per currency, from the ledger: for its owner and finance.",
    )
    async def partner_earnings(
        self, info: Info, partner_id: strawberry.ID, period: str
    ) -> list[PartnerEarnings]:
        partner = decode_id(str(partner_id), "Partner", argument="partnerId")
        return await earnings_of_partner(info, partner, period)

    @strawberry.field(
        extensions=requires("settlement", "simulate", domain="platform"),
        description="Replay a period under proposed tier shares, next to what each partner "
        "actually got. Posts and stores nothing (finance, community admins).",
    )
    async def settlement_simulate(
        self,
        info: Info,
        period: str,
        currency: str,
        share_overrides: list[ShareOverrideInput],
    ) -> SettlementSimulation:
        overrides = [ShareOverride(o.tier, o.share_bps) for o in share_overrides[:10]]
        try:
            async with info.context.db.reader() as session:
                found = await simulate_period(
                    session,
                    period=period,
                    currency=currency,
                    timezone=info.context.services.settings.settlement_tz,
                    overrides=overrides,
                )
        except DomainError as error:
            raise api_error(ApiErrorCode.BAD_USER_INPUT, str(error)) from None
        code = currency.strip().upper()
        return SettlementSimulation(
            period=period,
            currency=code,
            partners=[
                SimulatedPartner(
                    partner_id=encode_id("Partner", row.partner_id),
                    gross=Money.of(row.gross, code),
                    actual_partner_amount=Money.of(row.actual_partner_amount, code),
                    simulated_partner_amount=Money.of(row.simulated_partner_amount, code),
                    actual_fees=Money.of(row.actual_fees, code),
                    simulated_fees=Money.of(row.simulated_fees, code),
                    actual_net=Money.of(row.actual_net, code),
                    simulated_net=Money.of(row.simulated_net, code),
                )
                for row in found
            ],
        )


@strawberry.type
class SettlementMutation(LedgerMutation):
    @strawberry.mutation(
        extensions=requires("settlement_run", "create", domain="platform"),
        description="Settle a calendar month (YYYY-MM in AGORA_SETTLEMENT_TZ) of one currency: "
        "one statement per partner with ledger activity in it. The same period again returns "
        "the first run; a period overlapping another run of the currency is refused "
        "(OVERLAPPING_PERIOD). The run is a draft until another finance user approves it.",
    )
    async def settlement_run_create(
        self, info: Info, period: str, currency: str, idempotency_key: str
    ) -> SettlementRunPayload | None:
        request = settlement.RunRequest(
            period=period,
            currency=currency,
            timezone=info.context.services.settings.settlement_tz,
            actor=_actor(info),
            key=idempotency_key,
        )
        try:
            run_id, replayed = await settlement.create_run_once(
                info.context.db.writer,
                request,
                now=info.context.now(),
                on_created=change_recorder(info, _run_audit()),
            )
        except DomainError as error:
            return SettlementRunPayload(run=None, errors=marketplace_errors(error))
        return SettlementRunPayload(run=await _run(info, run_id), replayed=replayed, errors=[])

    @strawberry.mutation(
        extensions=requires("settlement_run", "approve", domain="platform"),
        description="Approve a draft run, freezing its statements (hashed and chained). Only a "
        "finance user other than the run's creator may (SEPARATION_OF_DUTIES). Approving an "
        "approved run changes nothing.",
    )
    async def settlement_run_approve(
        self, info: Info, run_id: strawberry.ID
    ) -> SettlementRunPayload | None:
        actor, now = _actor(info), info.context.now()

        async def work(session: AsyncSession) -> int:
            key = pk_of(run_id, "SettlementRun", "runId")
            run = await settlement.approve_run(session, key, actor=actor, now=now)
            return run.id

        audit = _run_audit(lambda: pk_of(run_id, "SettlementRun", "runId"))
        key, error = await write(info, work, audit)
        if key is None:
            return SettlementRunPayload(run=None, errors=marketplace_errors(error))
        return SettlementRunPayload(run=await _run(info, key), errors=[])
