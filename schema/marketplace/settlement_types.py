"""Settlement's GraphQL types and their per-request loaders.

Every relation (a statement's run, partner and lines) is loaded for the whole page at once, so
a page of statements with their lines costs the same statements at any size. ``verify``
recomputes the partner's chain and is meant for one statement at a time.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from strawberry.dataloader import DataLoader
from strawberry.types import Info

from app.db import SessionFactory
from app.pagination import fetch_page
from marketplace import listing_reads, settlement_reads
from marketplace.models import Partner as PartnerRow
from marketplace.settlement_models import LineKind, PayoutStatus, RunStatus
from marketplace.settlement_models import SettlementRun as RunRow
from marketplace.settlement_models import Statement as StatementRow
from marketplace.settlement_models import StatementLine as LineRow
from marketplace.statement_hash import verify_chain
from schema.loaders import bulk_loader
from schema.marketplace.partner_types import Partner
from schema.money import Money
from schema.node import encode_id
from schema.pagination import Connection, connection, page_request

__all__ = [
    "PartnerEarnings",
    "SettlementRun",
    "Statement",
    "StatementLine",
    "StatementVerification",
    "settlement_loaders",
]

RunStatusEnum = strawberry.enum(RunStatus, name="SettlementRunStatus")
LineKindEnum = strawberry.enum(LineKind, name="StatementLineKind")
PayoutStatusEnum = strawberry.enum(PayoutStatus, name="StatementPayoutStatus")


class SettlementLoaders:
    """One per request; every loader opens its own short session."""

    def __init__(self, reader: SessionFactory) -> None:
        self.run: DataLoader[int, RunRow | None] = bulk_loader(
            reader, settlement_reads.runs_by_id, lambda: None
        )
        self.partner: DataLoader[int, PartnerRow | None] = bulk_loader(
            reader, listing_reads.partners_by_id, lambda: None
        )
        self.lines: DataLoader[settlement_reads.LinePageKey, Any] = bulk_loader(
            reader, settlement_reads.statement_lines, lambda: None
        )


def settlement_loaders(info: Info) -> SettlementLoaders:
    """The request's settlement loaders, kept in the context's own attributes."""
    store = vars(info.context)
    loaders = store.get("settlement_loaders")
    if loaders is None:
        loaders = store["settlement_loaders"] = SettlementLoaders(info.context.db.reader)
    return loaders  # type: ignore[no-any-return]


@strawberry.type(description="A partner's period in one currency, from the ledger.")
class PartnerEarnings:
    currency: str
    gross: Money
    partner_amount: Money
    fees: Money
    refunds: Money
    clawbacks: Money
    net: Money = strawberry.field(description="partnerAmount - refunds - clawbacks.")
    statement_id: strawberry.ID | None = strawberry.field(
        description="The period's statement, once a run made one."
    )

    @classmethod
    def of(cls, row: settlement_reads.Earnings) -> PartnerEarnings:
        currency = row.currency
        return cls(
            currency=currency,
            gross=Money.of(row.gross, currency),
            partner_amount=Money.of(row.partner_amount, currency),
            fees=Money.of(row.fees, currency),
            refunds=Money.of(row.refunds, currency),
            clawbacks=Money.of(row.clawbacks, currency),
            net=Money.of(row.net, currency),
            statement_id=encode_id("Statement", row.statement_id) if row.statement_id else None,
        )


@strawberry.type(description="One charge, refund or clawback on a statement.")
class StatementLine:
    id: strawberry.ID
    kind: LineKindEnum  # type: ignore[valid-type]
    charge_id: strawberry.ID | None
    gross: Money = strawberry.field(description="Negative for a refund or clawback.")
    share_bps: int = strawberry.field(description="The partner's share when the charge was earned.")
    partner_amount: Money
    fee: Money
    occurred_at: datetime
    original_statement_id: strawberry.ID | None = strawberry.field(
        description="A clawback names the statement that held the original charge."
    )

    @classmethod
    def of(cls, row: LineRow, currency: str) -> StatementLine:
        original = row.original_statement_id
        return cls(
            id=encode_id("StatementLine", row.id),
            kind=row.kind,
            charge_id=encode_id("Charge", row.charge_id) if row.charge_id else None,
            gross=Money.of(row.gross, currency),
            share_bps=row.share_bps,
            partner_amount=Money.of(row.partner_amount, currency),
            fee=Money.of(row.fee, currency),
            occurred_at=row.occurred_at,
            original_statement_id=encode_id("Statement", original) if original else None,
        )


@strawberry.type(description="The outcome of recomputing a partner's chain of frozen statements.")
class StatementVerification:
    valid: bool
    checked: int = strawberry.field(description="How many frozen statements were recomputed.")
    broken_statement_id: strawberry.ID | None = strawberry.field(
        description="The first statement whose hash or link does not match."
    )
    reason: str


@strawberry.type(
    description="One partner's period in one currency: a frozen view of its ledger entries."
)
class Statement:
    id: strawberry.ID
    run_id: strawberry.ID
    partner_id: strawberry.ID
    currency: str
    gross: Money
    partner_amount: Money = strawberry.field(description="The partner's part of the charges.")
    fees: Money = strawberry.field(description="The platform's part of the charges.")
    refunds: Money = strawberry.field(description="Given back for charges of this period.")
    clawbacks: Money = strawberry.field(description="Given back for earlier periods' charges.")
    carried_in: Money = strawberry.field(description="The previous statement's negative net.")
    net_payable: Money = strawberry.field(
        description="partnerAmount - refunds - clawbacks + carriedIn; negative is carried on."
    )
    hash: str | None = strawberry.field(description="SHA-256 once frozen (the run approved).")
    previous_hash: str | None
    frozen_at: datetime | None
    payout_status: PayoutStatusEnum  # type: ignore[valid-type]
    csv_path: str = strawberry.field(description="Where the statement downloads as CSV.")
    created_at: datetime
    row: strawberry.Private[StatementRow]

    @classmethod
    def of(cls, row: StatementRow) -> Statement:
        currency = row.currency
        return cls(
            id=encode_id("Statement", row.id),
            run_id=encode_id("SettlementRun", row.run_id),
            partner_id=encode_id("Partner", row.partner_id),
            currency=currency,
            gross=Money.of(row.gross, currency),
            partner_amount=Money.of(row.partner_amount, currency),
            fees=Money.of(row.fees, currency),
            refunds=Money.of(row.refunds, currency),
            clawbacks=Money.of(row.clawbacks, currency),
            carried_in=Money.of(row.carried_in, currency),
            net_payable=Money.of(row.net_payable, currency),
            hash=row.hash,
            previous_hash=row.previous_hash,
            frozen_at=row.frozen_at,
            payout_status=row.payout_status,
            csv_path=f"/exports/statements/{row.id}.csv",
            created_at=row.created_at,
            row=row,
        )

    @strawberry.field
    async def period(self, info: Info) -> str:
        run = await settlement_loaders(info).run.load(self.row.run_id)
        return run.period if run is not None else ""

    @strawberry.field
    async def partner(self, info: Info) -> Partner | None:
        row = await settlement_loaders(info).partner.load(self.row.partner_id)
        return Partner.of(row) if row is not None else None

    @strawberry.field(description="The lines in the order they happened.")
    async def lines(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[StatementLine]:
        codec = info.context.services.cursors
        order = settlement_reads.LINE_ORDER
        request = page_request(codec, order, first=first, after=after, last=None, before=None)
        assert request.first is not None
        key = (self.row.id, request.first, request.after)
        page = await settlement_loaders(info).lines.load(key)
        return connection(codec, order, page, lambda line: StatementLine.of(line, self.currency))

    @strawberry.field(
        description="Recompute the partner's chain of frozen statements in this currency, up "
        "to this one: each hash from the rows, and each link to the one before. A draft "
        "statement is not hashed yet; only the frozen ones before it are checked."
    )
    async def verify(self, info: Info) -> StatementVerification:
        run = await settlement_loaders(info).run.load(self.row.run_id)
        async with info.context.db.reader() as session:
            check = await verify_chain(
                session,
                self.row.partner_id,
                self.currency,
                through=run.starts_at if run is not None else None,
            )
        broken = check.broken_statement_id
        return StatementVerification(
            valid=check.valid,
            checked=check.checked,
            broken_statement_id=encode_id("Statement", broken) if broken else None,
            reason=check.reason,
        )


@strawberry.type(description="A calendar month of one currency, settled from the ledger.")
class SettlementRun:
    id: strawberry.ID
    period: str = strawberry.field(description="YYYY-MM in the run's time zone.")
    currency: str
    timezone: str
    starts_at: datetime
    ends_at: datetime = strawberry.field(description="Exclusive.")
    status: RunStatusEnum  # type: ignore[valid-type]
    created_by: str
    approved_by: str | None
    approved_at: datetime | None
    created_at: datetime
    pk: strawberry.Private[int]

    @classmethod
    def of(cls, row: RunRow) -> SettlementRun:
        return cls(
            id=encode_id("SettlementRun", row.id),
            period=row.period,
            currency=row.currency,
            timezone=row.timezone,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            status=row.status,
            created_by=row.created_by,
            approved_by=row.approved_by,
            approved_at=row.approved_at,
            created_at=row.created_at,
            pk=row.id,
        )

    @strawberry.field(description="One statement per partner, by partner.")
    async def statements(
        self, info: Info, first: int | None = None, after: str | None = None
    ) -> Connection[Statement]:
        codec = info.context.services.cursors
        order = settlement_reads.RUN_STATEMENT_ORDER
        request = page_request(codec, order, first=first, after=after, last=None, before=None)
        async with info.context.db.reader() as session:
            query = settlement_reads.run_statements_query(self.pk)
            page = await fetch_page(session, query, order, request)
        return connection(codec, order, page, Statement.of)
