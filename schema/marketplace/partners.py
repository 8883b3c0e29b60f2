"""Partners and tiers through GraphQL.

Anyone signed in may register a partner and becomes its owner; the owner manages members and
applies for tiers. Community admins set tiers, tier policy and suspension, and decide
applications. A tier change is announced to every worker after it commits, so the partner's
apps are limited at the new tier from their very next request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Annotated, Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.security.audit import jsonable
from app.security.masking import MaskKind
from app.security.principal import Principal
from app.security.rbac import PLATFORM
from marketplace import models as m
from marketplace import partners, tiers
from schema.auditing import Audit, record_denial, row_state
from schema.errors import ApiErrorCode, api_error
from schema.marketplace.common import (
    MarketplaceError,
    ReviewDecision,
    marketplace_errors,
    partner_of_partner,
    pk_of,
)
from schema.marketplace.statement_access import finance_or_owner
from schema.node import Node, encode_id
from schema.pagination import Connection
from schema.permissions import requires
from schema.personal_data import personal_field
from schema.transactions import write

if TYPE_CHECKING:
    from schema.marketplace.settlement_types import PartnerEarnings, Statement

__all__ = ["Partner", "PartnerMutation", "PartnerQuery", "TierEnum", "TierPolicy"]

TierEnum = strawberry.enum(m.Tier, name="PartnerTier")
ApplicationStatusEnum = strawberry.enum(m.ApplicationStatus, name="TierApplicationStatus")
PartnerStatusEnum = strawberry.enum(m.PartnerStatus, name="PartnerStatus")
MemberRole = strawberry.enum(m.MemberRole, name="PartnerMemberRole")
# Audit targets carry an integer key; tiers are keyed by name, so number them in order.
_TIER_KEYS = {tier: number for number, tier in enumerate(m.Tier, start=1)}
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


def _actor(info: Info) -> str:
    principal = info.context.principal
    return principal.subject if principal else "anonymous"


async def _signed_in_user(info: Info) -> int:
    principal = info.context.principal
    if principal is None or principal.user_id is None:
        await record_denial(info, PLATFORM)
        raise api_error(ApiErrorCode.FORBIDDEN, "Sign in to register a partner.")
    return principal.user_id


PARTNER = partner_of_partner("partner_id")
ADMIN = {"domain": "platform"}


def _partner_audit(partner_id: strawberry.ID, *, domain: str = "platform") -> Audit[m.Partner]:
    return Audit(
        "Partner",
        PARTNER_STATE,
        target=lambda row: row.id,
        before=lambda: pk_of(partner_id, "Partner", "partnerId"),
        domain=domain,  # type: ignore[arg-type]
    )


@strawberry.type
class PartnerQuery:
    @strawberry.field(description="Every tier's policy. Public.")
    async def tier_policies(self, info: Info) -> list[TierPolicy]:
        async with info.context.db.reader() as session:
            return [TierPolicy.of(row) for row in await tiers.all_policies(session)]

    @strawberry.field(
        extensions=requires("partner_profile", "read", domain="partner", partner_of=PARTNER),
        description="A partner, for its members.",
    )
    async def partner(self, info: Info, partner_id: strawberry.ID) -> Partner | None:
        async with info.context.db.reader() as session:
            row = await session.get(m.Partner, info.context.partner_id)
        return Partner.of(row, is_member=True) if row else None

    @strawberry.field(
        extensions=requires("tier_application", "decide", domain="platform"),
        description="Applications waiting for a decision, oldest first.",
    )
    async def tier_applications(self, info: Info) -> list[TierApplication]:
        async with info.context.db.reader() as session:
            rows = await session.scalars(
                select(m.TierApplication)
                .where(m.TierApplication.status == m.ApplicationStatus.PENDING)
                .order_by(m.TierApplication.created_at, m.TierApplication.id)
                .limit(100)
            )
            return [TierApplication.of(row) for row in rows]


@strawberry.type
class PartnerMutation:
    @strawberry.mutation(
        description="Register a partner; the caller (signed in) becomes its owner."
    )
    async def partner_register(
        self, info: Info, input: PartnerRegisterInput
    ) -> PartnerPayload | None:
        user_id = await _signed_in_user(info)
        services = info.context.services.marketplace

        async def work(session: AsyncSession) -> m.Partner:
            partner = await partners.register_partner(
                session,
                services.cipher,
                name=input.name,
                contact_email=input.contact_email,
                website=input.website,
                owner_user_id=user_id,
                now=services.clock(),
            )
            info.context.partner_id = partner.id  # the audit record's domain
            return partner

        audit = Audit("Partner", PARTNER_STATE, target=lambda row: row.id, domain="partner")
        row, error = await write(info, work, audit)
        return PartnerPayload(
            partner=Partner.of(row, is_member=True) if row else None,
            errors=marketplace_errors(error),
        )

    @strawberry.mutation(
        extensions=requires("partner_member", "write", domain="partner", partner_of=PARTNER)
    )
    async def partner_member_add(
        self,
        info: Info,
        partner_id: strawberry.ID,
        user_id: strawberry.ID,
        role: MemberRole,  # type: ignore[valid-type]
    ) -> MemberPayload | None:
        return await _member_change(info, partner_id, user_id, role, partners.add_member)

    @strawberry.mutation(
        extensions=requires("partner_member", "write", domain="partner", partner_of=PARTNER)
    )
    async def partner_member_remove(
        self,
        info: Info,
        partner_id: strawberry.ID,
        user_id: strawberry.ID,
        role: MemberRole,  # type: ignore[valid-type]
    ) -> MemberPayload | None:
        return await _member_change(info, partner_id, user_id, role, partners.remove_member)

    @strawberry.mutation(
        extensions=requires("tier_policy", "write", domain="platform"),
        description="Change a tier's policy; every worker's quotas follow at once.",
    )
    async def tier_policy_update(
        self,
        info: Info,
        tier: TierEnum,
        input: TierPolicyInput,  # type: ignore[valid-type]
    ) -> TierPolicyPayload | None:
        async def work(session: AsyncSession) -> m.TierPolicy:
            return await tiers.update_policy(session, m.Tier(tier), input.to_changes())

        audit = Audit(
            "TierPolicy",
            lambda session, _: _policy_state(session, m.Tier(tier)),
            target=lambda _: _TIER_KEYS[m.Tier(tier)],
            before=lambda: _TIER_KEYS[m.Tier(tier)],
            domain="platform",
        )
        row, error = await write(info, work, audit)
        if row is not None:
            await info.context.services.marketplace.announce_tier_change()
        return TierPolicyPayload(
            tier_policy=TierPolicy.of(row) if row else None, errors=marketplace_errors(error)
        )

    @strawberry.mutation(
        extensions=requires("partner_tier", "write", domain="platform"),
        description="Move a partner to a tier, saying why; quotas follow on the next request.",
    )
    async def partner_tier_change(
        self,
        info: Info,
        partner_id: strawberry.ID,
        tier: TierEnum,
        reason: str,  # type: ignore[valid-type]
    ) -> PartnerPayload | None:
        services = info.context.services.marketplace

        async def work(session: AsyncSession) -> m.Partner:
            return await partners.change_tier(
                session,
                pk_of(partner_id, "Partner", "partnerId"),
                m.Tier(tier),
                reason=reason,
                actor=_actor(info),
                now=services.clock(),
            )

        row, error = await write(info, work, _partner_audit(partner_id))
        if row is not None:
            await services.announce_tier_change()
        return PartnerPayload(
            partner=Partner.of(row) if row else None, errors=marketplace_errors(error)
        )

    @strawberry.mutation(
        extensions=requires("tier_application", "write", domain="partner", partner_of=PARTNER),
        description="Ask for a higher tier, with evidence; a community admin decides.",
    )
    async def tier_application_submit(
        self,
        info: Info,
        partner_id: strawberry.ID,
        target_tier: TierEnum,
        evidence: str,  # type: ignore[valid-type]
    ) -> TierApplicationPayload | None:
        async def work(session: AsyncSession) -> TierApplication:
            row = await partners.submit_application(
                session, info.context.partner_id, m.Tier(target_tier), evidence, actor=_actor(info)
            )
            return TierApplication.of(row)

        audit = Audit("TierApplication", row_state(m.TierApplication), domain="partner")
        found, error = await write(info, work, audit)
        return TierApplicationPayload(application=found, errors=marketplace_errors(error))

    @strawberry.mutation(
        extensions=requires("tier_application", "decide", domain="platform"),
        description="Approve (the tier changes) or reject; an application is decided once.",
    )
    async def tier_application_review(
        self,
        info: Info,
        id: strawberry.ID,
        decision: ReviewDecision,
        notes: str = "",  # type: ignore[valid-type]
    ) -> TierApplicationPayload | None:
        services = info.context.services.marketplace

        async def work(session: AsyncSession) -> TierApplication:
            row = await partners.review_application(
                session,
                pk_of(id, "TierApplication", "id"),
                approve=m.Decision(decision) is m.Decision.APPROVE,
                notes=notes,
                actor=_actor(info),
                now=services.clock(),
            )
            return TierApplication.of(row)

        audit = Audit(
            "TierApplication",
            row_state(m.TierApplication),
            before=lambda: pk_of(id, "TierApplication", "id"),
            domain="platform",
        )
        found, error = await write(info, work, audit)
        if found is not None and found.status == m.ApplicationStatus.APPROVED:
            await services.announce_tier_change()
        return TierApplicationPayload(application=found, errors=marketplace_errors(error))

    @strawberry.mutation(
        extensions=requires("partner", "suspend", domain="platform"),
        description="Suspend: the partner's apps are refused and its listings hidden.",
    )
    async def partner_suspend(self, info: Info, partner_id: strawberry.ID) -> PartnerPayload | None:
        return await _set_suspended(info, partner_id, suspended=True)

    @strawberry.mutation(extensions=requires("partner", "suspend", domain="platform"))
    async def partner_reinstate(
        self, info: Info, partner_id: strawberry.ID
    ) -> PartnerPayload | None:
        return await _set_suspended(info, partner_id, suspended=False)


MemberChange = Callable[[AsyncSession, int, int, str], Awaitable[None]]


async def _member_change(
    info: Info, partner_id: strawberry.ID, user_id: strawberry.ID, role: Any, change: MemberChange
) -> MemberPayload:
    async def work(session: AsyncSession) -> m.Partner:
        pk = info.context.partner_id
        await change(session, pk, pk_of(user_id, "User", "userId"), role.value)
        return await partners.partner_by_id(session, pk)

    row, error = await write(info, work, _partner_audit(partner_id, domain="partner"))
    return MemberPayload(ok=row is not None, errors=marketplace_errors(error))


async def _policy_state(session: AsyncSession, tier: m.Tier) -> object:
    return jsonable(await session.get(m.TierPolicy, tier, populate_existing=True))


async def _set_suspended(
    info: Info, partner_id: strawberry.ID, *, suspended: bool
) -> PartnerPayload:
    async def work(session: AsyncSession) -> m.Partner:
        return await partners.set_suspended(
            session, pk_of(partner_id, "Partner", "partnerId"), suspended
        )

    row, error = await write(info, work, _partner_audit(partner_id))
    if row is not None:
        await info.context.services.marketplace.announce_tier_change()
    return PartnerPayload(
        partner=Partner.of(row) if row else None, errors=marketplace_errors(error)
    )
