"""The GraphQL types of partners and tiers: the partner, its tier history and applications,
tier policy, and the inputs and payloads of their mutations.

Kept apart from the operations (``schema.marketplace.partners``) so that the settlement and
listing types can name ``Partner`` and ``PartnerTier`` without importing the operations.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from app.security.masking import MaskKind
from app.security.principal import Principal
from marketplace import models as m
from marketplace import partners, tiers
from schema.auditing import row_state
from schema.marketplace.common import (
    MarketplaceError,
)
from schema.marketplace.statement_access import finance_or_owner
from schema.node import Node, encode_id
from schema.pagination import Connection
from schema.personal_data import personal_field

if TYPE_CHECKING:
    from schema.marketplace.settlement_types import PartnerEarnings, Statement


__all__ = [
    "PARTNER_STATE",
    "ApplicationStatusEnum",
    "MemberPayload",
    "MemberRole",
    "Partner",
    "PartnerPayload",
    "PartnerRegisterInput",
    "PartnerStatusEnum",
    "TierApplication",
    "TierApplicationPayload",
    "TierChange",
    "TierEnum",
    "TierPolicy",
    "TierPolicyInput",
    "TierPolicyPayload",
]

TierEnum = strawberry.enum(m.Tier, name="PartnerTier")
ApplicationStatusEnum = strawberry.enum(m.ApplicationStatus, name="TierApplicationStatus")
PartnerStatusEnum = strawberry.enum(m.PartnerStatus, name="PartnerStatus")
MemberRole = strawberry.enum(m.MemberRole, name="PartnerMemberRole")
PARTNER_STATE = row_state(m.Partner)


@strawberry.type(description="What a tier allows; community admins change it.")
class TierPolicy:
    tier: TierEnum  # type: ignore[valid-type]
    rate_per_second: float
    burst: int
    daily_calls: int | None = strawberry.field(description="Null: unlimited.")
    cost_bucket_max: int
    cost_restore_per_second: float
    max_apps: int | None = strawberry.field(description="Null: unlimited.")
    share_bps: int = strawberry.field(description="The partner's revenue share, in 1/100 %.")
    allowed_scopes: list[str]
    listing_boost: float
    shedding_priority: int = strawberry.field(description="0 is shed first, 2 last.")
    concurrency: int

    @classmethod
    def of(cls, row: m.TierPolicy) -> TierPolicy:
        return cls(
            tier=row.tier,
            rate_per_second=row.rate,
            burst=row.burst,
            daily_calls=row.daily_calls,
            cost_bucket_max=row.cost_max,
            cost_restore_per_second=row.cost_restore,
            max_apps=row.max_apps,
            share_bps=row.share_bps,
            allowed_scopes=list(row.allowed_scopes),
            listing_boost=row.listing_boost,
            shedding_priority=row.priority,
            concurrency=row.concurrency,
        )


@strawberry.type
class TierChange:
    from_tier: TierEnum | None = strawberry.field(name="from")  # type: ignore[valid-type]
    to_tier: TierEnum = strawberry.field(name="to")  # type: ignore[valid-type]
    reason: str
    actor: str
    at: datetime


@strawberry.type
class TierApplication(Node):
    target_tier: TierEnum  # type: ignore[valid-type]
    evidence: str
    status: ApplicationStatusEnum  # type: ignore[valid-type]
    notes: str
    created_at: datetime
    decided_at: datetime | None
    partner_pk: strawberry.Private[int]

    @classmethod
    def of(cls, row: m.TierApplication) -> TierApplication:
        return cls(
            id=encode_id("TierApplication", row.id),
            target_tier=row.target_tier,
            evidence=row.evidence,
            status=row.status,
            notes=row.notes,
            created_at=row.created_at,
            decided_at=row.decided_at,
            partner_pk=row.partner_id,
        )


@strawberry.type
class Partner(Node):
    name: str
    website: str
    tier: TierEnum  # type: ignore[valid-type]
    status: PartnerStatusEnum  # type: ignore[valid-type]
    created_at: datetime
    pk: strawberry.Private[int]
    row: strawberry.Private[m.Partner]
    # Members of the partner see its contact email in clear.
    is_member: strawberry.Private[bool] = False

    def owned_by(self, principal: Principal | None) -> bool:
        return self.is_member

    @classmethod
    def of(cls, row: m.Partner, *, is_member: bool = False) -> Partner:
        return cls(
            id=encode_id("Partner", row.id),
            name=row.name,
            website=row.website,
            tier=row.tier,
            status=row.status,
            created_at=row.created_at,
            pk=row.id,
            row=row,
            is_member=is_member,
        )

    @personal_field(MaskKind.EMAIL)
    def contact_email(self, info: Info) -> str:
        return partners.contact_email_of(self.row, info.context.services.marketplace.cipher)

    @strawberry.field(
        description="The partner's statements, newest first: for its owner and finance.",
        extensions=finance_or_owner(),
    )
    async def statements(
        self,
        info: Info,
        currency: str | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[Annotated[Statement, strawberry.lazy("schema.marketplace.settlement_types")]]:
        from schema.marketplace.settlement import statements_of_partner

        return await statements_of_partner(info, self.pk, currency, first, after)

    @strawberry.field(
        description="What the partner earned in a month (YYYY-MM in the settlement time zone), "
        "per currency, from the ledger: for its owner and finance.",
        extensions=finance_or_owner(),
    )
    async def earnings(
        self, info: Info, period: str
    ) -> list[Annotated[PartnerEarnings, strawberry.lazy("schema.marketplace.settlement_types")]]:
        from schema.marketplace.settlement import earnings_of_partner

        return await earnings_of_partner(info, self.pk, period)

    @strawberry.field(description="Every tier the partner has held, oldest first.")
    async def tier_history(self, info: Info) -> list[TierChange]:
        async with info.context.db.reader() as session:
            rows = await session.scalars(
                select(m.PartnerTierChange)
                .where(m.PartnerTierChange.partner_id == self.pk)
                .order_by(m.PartnerTierChange.at, m.PartnerTierChange.id)
            )
            return [
                TierChange(
                    from_tier=r.from_tier,
                    to_tier=r.to_tier,
                    reason=r.reason,
                    actor=r.actor,
                    at=r.at,
                )
                for r in rows
            ]


@strawberry.input
class PartnerRegisterInput:
    name: str
    contact_email: str
    website: str = ""


@strawberry.input(description="Fields left out keep their value; null means unlimited.")
class TierPolicyInput:
    rate_per_second: float | None = strawberry.UNSET
    burst: int | None = strawberry.UNSET
    daily_calls: int | None = strawberry.UNSET
    cost_bucket_max: int | None = strawberry.UNSET
    cost_restore_per_second: float | None = strawberry.UNSET
    max_apps: int | None = strawberry.UNSET
    share_bps: int | None = strawberry.UNSET
    allowed_scopes: list[str] | None = strawberry.UNSET
    listing_boost: float | None = strawberry.UNSET
    shedding_priority: int | None = strawberry.UNSET
    concurrency: int | None = strawberry.UNSET

    def to_changes(self) -> tiers.TierPolicyChanges:
        unset = tiers.TierPolicyChanges.unset()

        def given(value: object) -> object:
            return unset if value is strawberry.UNSET else value

        return tiers.TierPolicyChanges(
            rate=given(self.rate_per_second),
            burst=given(self.burst),
            daily_calls=given(self.daily_calls),
            cost_max=given(self.cost_bucket_max),
            cost_restore=given(self.cost_restore_per_second),
            max_apps=given(self.max_apps),
            share_bps=given(self.share_bps),
            allowed_scopes=given(self.allowed_scopes),
            listing_boost=given(self.listing_boost),
            priority=given(self.shedding_priority),
            concurrency=given(self.concurrency),
        )


@strawberry.type
class PartnerPayload:
    partner: Partner | None
    errors: list[MarketplaceError]


@strawberry.type
class TierPolicyPayload:
    tier_policy: TierPolicy | None
    errors: list[MarketplaceError]


@strawberry.type
class TierApplicationPayload:
    application: TierApplication | None
    errors: list[MarketplaceError]


@strawberry.type
class MemberPayload:
    ok: bool
    errors: list[MarketplaceError]
