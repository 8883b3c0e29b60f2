"""The ledger through GraphQL: finance reads accounts and entries and refunds app charges.

``ledgerAccounts`` and ``ledgerEntries`` are keyset pages (``ledger`` read on the platform);
a page's balances, accounts and transaction sources are read in bulk. ``chargeRefund`` gives
money back to a shop for a collected charge (``charge`` refund on the platform): it is posted
to the ledger at once, and a later statement shows it as a refund or a clawback.
"""

from __future__ import annotations

from datetime import datetime

import strawberry
from strawberry.types import Info

from app.errors import DomainError
from app.money import MoneyError, parse_amount
from app.pagination import fetch_page
from marketplace import ledger_reads
from marketplace.billing_models import Charge as ChargeRow
from marketplace.charge_refunds import RefundRequest, refund_charge_once
from marketplace.errors import MarketplaceErrorCode
from marketplace.ledger_models import AccountKind, PostingKind
from marketplace.ledger_models import LedgerAccount as AccountRow
from marketplace.ledger_models import LedgerEntry as EntryRow
from marketplace.settlement_models import ChargeRefund as RefundRow
from schema.auditing import Audit, change_recorder, row_state
from schema.inputs import aware_filter_time
from schema.marketplace.billing import Charge
from schema.marketplace.common import MarketplaceError, marketplace_errors, pk_of
from schema.money import Money, MoneyInput
from schema.node import decode_id, encode_id
from schema.pagination import Connection, connection, page_request
from schema.permissions import requires

__all__ = ["ChargeRefund", "LedgerAccount", "LedgerEntry", "LedgerMutation", "LedgerQuery"]

AccountKindEnum = strawberry.enum(AccountKind, name="LedgerAccountKind")
PostingKindEnum = strawberry.enum(PostingKind, name="LedgerPostingKind")


@strawberry.type(description="A typed account in one currency; balance is debits minus credits.")
class LedgerAccount:
    id: strawberry.ID
    key: str = strawberry.field(description="cash:EUR, platform_fees:EUR, partner_payable:7:EUR")
    kind: AccountKindEnum  # type: ignore[valid-type]
    currency: str
    partner_id: strawberry.ID | None
    balance: Money = strawberry.field(
        description="Debits positive: a partner payable owed to its partner is negative."
    )
    created_at: datetime

    @classmethod
    def of(cls, row: AccountRow, balance: int) -> LedgerAccount:
        return cls(
            id=encode_id("LedgerAccount", row.id),
            key=row.key,
            kind=row.kind,
            currency=row.currency,
            partner_id=encode_id("Partner", row.partner_id) if row.partner_id else None,
            balance=Money.of(balance, row.currency),
            created_at=row.created_at,
        )


@strawberry.type(description="One side of a journal transaction; append-only.")
class LedgerEntry:
    id: strawberry.ID
    transaction_id: strawberry.ID
    source: str = strawberry.field(description="The business event: collection:charge:12 ...")
    account_id: strawberry.ID
    account_key: str
    kind: PostingKindEnum  # type: ignore[valid-type]
    amount: Money = strawberry.field(description="A debit is positive, a credit negative.")
    occurred_at: datetime
    partner_id: strawberry.ID | None
    charge_id: strawberry.ID | None
    share_bps: int | None
    gross: Money | None = strawberry.field(description="The charge's (or refund's) gross.")


@strawberry.input(description="Every field narrows the list; occurredTo is exclusive.")
class LedgerEntryFilter:
    account: strawberry.ID | None = strawberry.field(default=None, description="A LedgerAccount.")
    partner_id: strawberry.ID | None = None
    kind: PostingKindEnum | None = None  # type: ignore[valid-type]
    currency: str | None = None
    occurred_from: datetime | None = None
    occurred_to: datetime | None = None

    def to_filter(self) -> ledger_reads.EntryFilter:
        account = self.account
        partner = self.partner_id
        return ledger_reads.EntryFilter(
            account_id=decode_id(str(account), "LedgerAccount", argument="account")
            if account is not None
            else None,
            partner_id=decode_id(str(partner), "Partner", argument="partnerId")
            if partner is not None
            else None,
            kind=self.kind,
            currency=self.currency,
            occurred_from=aware_filter_time(self.occurred_from, "occurredFrom"),
            occurred_to=aware_filter_time(self.occurred_to, "occurredTo"),
        )


@strawberry.input
class LedgerAccountFilter:
    kind: AccountKindEnum | None = None  # type: ignore[valid-type]
    currency: str | None = None
    partner_id: strawberry.ID | None = None


@strawberry.type(description="Money given back to a shop for an app charge.")
class ChargeRefund:
    id: strawberry.ID
    charge_id: strawberry.ID
    amount: Money
    reason: str
    actor: str
    refunded_at: datetime

    @classmethod
    def of(cls, row: RefundRow) -> ChargeRefund:
        return cls(
            id=encode_id("ChargeRefund", row.id),
            charge_id=encode_id("Charge", row.charge_id),
            amount=Money.of(row.amount, row.currency),
            reason=row.reason,
            actor=row.actor,
            refunded_at=row.refunded_at,
        )


@strawberry.type
class ChargeRefundPayload:
    refund: ChargeRefund | None
    charge: Charge | None
    replayed: bool = strawberry.field(description="True when the key was used before.")
    errors: list[MarketplaceError]


@strawberry.type
class LedgerQuery:
    @strawberry.field(
        extensions=requires("ledger", "read", domain="platform"),
        description="The ledger's accounts, oldest first, with their balances (finance).",
    )
    async def ledger_accounts(
        self,
        info: Info,
        filter: LedgerAccountFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[LedgerAccount]:
        given = ledger_reads.AccountFilter()
        if filter is not None:
            partner = filter.partner_id
            given = ledger_reads.AccountFilter(
                kind=filter.kind,
                currency=filter.currency,
                partner_id=decode_id(str(partner), "Partner", argument="partnerId")
                if partner is not None
                else None,
            )
        codec = info.context.services.cursors
        order = ledger_reads.ACCOUNT_ORDER
        request = page_request(codec, order, first=first, after=after, last=None, before=None)
        async with info.context.db.reader() as session:
            page = await fetch_page(session, ledger_reads.account_query(given), order, request)
            found = await ledger_reads.balances(session, [row.id for row in page.rows])
        return connection(
            codec, order, page, lambda row: LedgerAccount.of(row, found.get(row.id, 0))
        )

    @strawberry.field(
        extensions=requires("ledger", "read", domain="platform"),
        description="Ledger entries, newest posting first (finance).",
    )
    async def ledger_entries(
        self,
        info: Info,
        filter: LedgerEntryFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[LedgerEntry]:
        given = filter.to_filter() if filter else ledger_reads.EntryFilter()
        codec = info.context.services.cursors
        order = ledger_reads.ENTRY_ORDER
        request = page_request(codec, order, first=first, after=after, last=None, before=None)
        async with info.context.db.reader() as session:
            page = await fetch_page(session, ledger_reads.entry_query(given), order, request)
            rows: list[EntryRow] = list(page.rows)
            accounts = await ledger_reads.accounts_by_id(
                session, list({r.account_id for r in rows})
            )
            transactions = await ledger_reads.transactions_by_id(
                session, list({r.transaction_id for r in rows})
            )

        def entry(row: EntryRow) -> LedgerEntry:
            currency = row.currency
            return LedgerEntry(
                id=encode_id("LedgerEntry", row.id),
                transaction_id=encode_id("LedgerTransaction", row.transaction_id),
                source=transactions[row.transaction_id].source,
                account_id=encode_id("LedgerAccount", row.account_id),
                account_key=accounts[row.account_id].key,
                kind=row.kind,
                amount=Money.of(row.amount, currency),
                occurred_at=row.occurred_at,
                partner_id=encode_id("Partner", row.partner_id) if row.partner_id else None,
                charge_id=encode_id("Charge", row.charge_id) if row.charge_id else None,
                share_bps=row.share_bps,
                gross=Money.of(row.gross, currency) if row.gross is not None else None,
            )

        return connection(codec, order, page, entry)


async def _refund_request(
    info: Info, charge_id: strawberry.ID, amount: MoneyInput, reason: str, key: str
) -> RefundRequest:
    charge = pk_of(charge_id, "Charge", "chargeId")
    async with info.context.db.reader() as session:
        row = await session.get(ChargeRow, charge)
    if row is None:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such charge.", "chargeId")
    if amount.currency_code != row.currency:
        raise DomainError.one(
            MarketplaceErrorCode.INVALID,
            f"The charge is in {row.currency}.",
            "amount",
            "currencyCode",
        )
    try:
        minor = parse_amount(amount.amount, row.currency)
    except MoneyError as error:
        raise DomainError.one(MarketplaceErrorCode.INVALID, str(error), "amount") from error
    principal = info.context.principal
    actor = principal.subject if principal else "anonymous"
    return RefundRequest(charge, minor, reason, actor, key)


@strawberry.type
class LedgerMutation:
    @strawberry.mutation(
        extensions=requires("charge", "refund", domain="platform"),
        description="Give money back to the shop for a collected charge (finance). The refund "
        "is posted to the ledger at once, split by the charge's share at earning time; a charge "
        "already settled shows it on the next statement as a clawback. Never more than what is "
        "left of the charge (REFUND_EXCEEDS_CHARGE). Replays return the first refund.",
    )
    async def charge_refund(
        self,
        info: Info,
        charge_id: strawberry.ID,
        amount: MoneyInput,
        idempotency_key: str,
        reason: str = "",
    ) -> ChargeRefundPayload | None:
        audit = Audit(
            "ChargeRefund", row_state(RefundRow), target=lambda key: key, domain="platform"
        )
        try:
            request = await _refund_request(info, charge_id, amount, reason, idempotency_key)
            refund_id, replayed = await refund_charge_once(
                info.context.db.writer,
                request,
                now=info.context.now(),
                on_refunded=change_recorder(info, audit),
            )
        except DomainError as error:
            return ChargeRefundPayload(
                refund=None, charge=None, replayed=False, errors=marketplace_errors(error)
            )
        async with info.context.db.reader() as session:
            refund = await session.get(RefundRow, refund_id)
            charge = await session.get(ChargeRow, request.charge_id)
        return ChargeRefundPayload(
            refund=ChargeRefund.of(refund) if refund else None,
            charge=Charge.of(charge) if charge else None,
            replayed=replayed,
            errors=[],
        )
