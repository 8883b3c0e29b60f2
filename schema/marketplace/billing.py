"""Billing through GraphQL: apps report usage; finance and partner owners read charges.

``usageRecordCreate`` is for an app's install token holding ``billing:usage``: the token's
shop is the request's shop, and the installation must be the calling app's, in that shop.
``charges`` lists every charge for finance (``ledger`` read on the platform);
``partnerCharges`` lists one partner's for its owner (``statement`` read in the partner).
"""

from __future__ import annotations

from datetime import date, datetime
from operator import attrgetter

import strawberry
from strawberry.types import Info

from app.errors import DomainError
from app.pagination import fetch_page
from marketplace import charges as domain
from marketplace.billing_models import Charge as ChargeRow
from marketplace.billing_models import ChargeKind, ChargeStatus
from marketplace.billing_models import UsageRecord as UsageRecordRow
from marketplace.usage import RecordedUsage, record_usage_once
from schema.auditing import Audit, change_recorder, row_state
from schema.inputs import aware_filter_time
from schema.marketplace.common import (
    MarketplaceError,
    marketplace_errors,
    partner_of_partner,
    pk_of,
)
from schema.marketplace.partner_types import TierEnum
from schema.money import Money
from schema.node import decode_id, encode_id
from schema.pagination import Connection, connection, page_request
from schema.permissions import requires

__all__ = ["BillingMutation", "BillingQuery", "Charge", "UsageRecord"]

ChargeKindEnum = strawberry.enum(ChargeKind, name="ChargeKind")
ChargeStatusEnum = strawberry.enum(ChargeStatus, name="ChargeStatus")


@strawberry.type(description="Usage an app reported for an installation, priced by its plan.")
class UsageRecord:
    id: strawberry.ID
    installation_id: strawberry.ID
    quantity: int
    amount: Money = strawberry.field(description="quantity times the plan's unit price.")
    description: str
    period_start: date = strawberry.field(description="The UTC period it counts toward.")
    created_at: datetime

    @classmethod
    def of(cls, recorded: RecordedUsage) -> UsageRecord:
        return cls(
            id=encode_id("UsageRecord", recorded.id),
            installation_id=encode_id("Installation", recorded.installation_id),
            quantity=recorded.quantity,
            amount=Money.of(recorded.amount, recorded.currency),
            description=recorded.description,
            period_start=recorded.period_start,
            created_at=recorded.created_at,
        )


@strawberry.type
class UsageRecordCreatePayload:
    usage_record: UsageRecord | None
    replayed: bool = strawberry.field(description="True when the key was used before.")
    errors: list[MarketplaceError]


@strawberry.type(
    description="What an installation costs its shop for one period. Earned when collected: "
    "tier and shareBps are the partner's at that moment and never change afterwards."
)
class Charge:
    id: strawberry.ID
    installation_id: strawberry.ID
    partner_id: strawberry.ID
    shop_id: strawberry.ID
    kind: ChargeKindEnum  # type: ignore[valid-type]
    status: ChargeStatusEnum  # type: ignore[valid-type]
    amount: Money = strawberry.field(description="The gross amount the shop pays.")
    description: str
    period_start: date
    period_end: date = strawberry.field(description="Exclusive: the next period's first day.")
    test: bool = strawberry.field(description="A sandbox charge: no money moves, never settled.")
    tier: TierEnum | None  # type: ignore[valid-type]
    share_bps: int | None = strawberry.field(description="The partner's share, basis points.")
    earned_at: datetime | None
    stripe_invoice_id: str | None
    created_at: datetime

    @classmethod
    def of(cls, row: ChargeRow) -> Charge:
        return cls(
            id=encode_id("Charge", row.id),
            installation_id=encode_id("Installation", row.installation_id),
            partner_id=encode_id("Partner", row.partner_id),
            shop_id=encode_id("Shop", row.shop_id),
            kind=row.kind,
            status=row.status,
            amount=Money.of(row.amount, row.currency),
            description=row.description,
            period_start=row.period_start,
            period_end=row.period_end,
            test=row.test,
            tier=row.tier,
            share_bps=row.share_bps,
            earned_at=row.earned_at,
            stripe_invoice_id=row.stripe_invoice_id,
            created_at=row.created_at,
        )


@strawberry.input(description="Every field narrows the list; earnedTo is exclusive.")
class ChargeFilter:
    partner_id: strawberry.ID | None = None
    shop_id: strawberry.ID | None = None
    installation_id: strawberry.ID | None = None
    status: ChargeStatusEnum | None = None  # type: ignore[valid-type]
    kind: ChargeKindEnum | None = None  # type: ignore[valid-type]
    test: bool | None = None
    earned_from: datetime | None = None
    earned_to: datetime | None = None

    def to_filter(self, partner_id: int | None = None) -> domain.ChargeFilter:
        def key(value: strawberry.ID | None, type_name: str, name: str) -> int | None:
            return decode_id(str(value), type_name, argument=name) if value is not None else None

        return domain.ChargeFilter(
            partner_id=partner_id or key(self.partner_id, "Partner", "partnerId"),
            shop_id=key(self.shop_id, "Shop", "shopId"),
            installation_id=key(self.installation_id, "Installation", "installationId"),
            status=self.status,
            kind=self.kind,
            test=self.test,
            earned_from=aware_filter_time(self.earned_from, "earnedFrom"),
            earned_to=aware_filter_time(self.earned_to, "earnedTo"),
        )


async def _charges(
    info: Info, given: domain.ChargeFilter, first: int | None, after: str | None
) -> Connection[Charge]:
    codec = info.context.services.cursors
    order = domain.CHARGE_ORDER
    request = page_request(codec, order, first=first, after=after, last=None, before=None)
    async with info.context.db.reader() as session:
        page = await fetch_page(session, domain.charge_query(given), order, request)
    return connection(codec, order, page, Charge.of)


@strawberry.type
class BillingQuery:
    @strawberry.field(
        extensions=requires("ledger", "read", domain="platform"),
        description="Every app charge, newest first (finance).",
    )
    async def charges(
        self,
        info: Info,
        filter: ChargeFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Charge]:
        given = filter.to_filter() if filter else domain.ChargeFilter()
        return await _charges(info, given, first, after)

    @strawberry.field(
        extensions=requires("statement", "read", domain="partner", partner_of=partner_of_partner()),
        description="One partner's charges, newest first (its owner).",
    )
    async def partner_charges(
        self,
        info: Info,
        partner_id: strawberry.ID,
        filter: ChargeFilter | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Charge]:
        partner = decode_id(str(partner_id), "Partner", argument="partnerId")
        given = filter.to_filter(partner) if filter else domain.ChargeFilter(partner_id=partner)
        return await _charges(info, given, first, after)


@strawberry.type
class BillingMutation:
    @strawberry.mutation(
        extensions=requires("usage_record", "write"),
        description="Report usage with the app's install token (scope billing:usage). A "
        "record that would take the period past the plan's cap is refused "
        "(USAGE_CAP_EXCEEDED). Replays return the first record.",
    )
    async def usage_record_create(
        self,
        info: Info,
        installation_id: strawberry.ID,
        quantity: int,
        idempotency_key: str,
        description: str = "",
    ) -> UsageRecordCreatePayload | None:
        context = info.context
        shop = context.require_shop()
        principal = context.principal
        kind, _, client_id = (principal.subject if principal else "").partition(":")
        audit = Audit("UsageRecord", row_state(UsageRecordRow), target=attrgetter("id"))
        try:
            installation = pk_of(installation_id, "Installation", "installationId")
            recorded = await record_usage_once(
                context.services.marketplace,
                installation,
                quantity,
                description,
                idempotency_key,
                client_id if kind == "app" else "",
                shop_id=shop.id,
                on_recorded=change_recorder(info, audit),
            )
        except DomainError as error:
            return UsageRecordCreatePayload(
                usage_record=None, replayed=False, errors=marketplace_errors(error)
            )
        return UsageRecordCreatePayload(
            usage_record=UsageRecord.of(recorded), replayed=recorded.replayed, errors=[]
        )
