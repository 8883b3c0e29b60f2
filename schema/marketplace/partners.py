"""Partners and tiers through GraphQL.

Anyone signed in may register a partner and becomes its owner; the owner manages members and
applies for tiers. Community admins set tiers, tier policy and suspension, and decide
applications. A tier change is announced to every worker after it commits, so the partner's
apps are limited at the new tier from their very next request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.security.audit import jsonable
from app.security.rbac import PLATFORM
from marketplace import models as m
from marketplace import partners, tiers
from schema.auditing import Audit, record_denial, row_state
from schema.errors import ApiErrorCode, api_error
from schema.marketplace.common import (
    ReviewDecision,
    marketplace_errors,
    partner_of_partner,
    pk_of,
)
from schema.marketplace.partner_types import (
    PARTNER_STATE,
    MemberPayload,
    MemberRole,
    Partner,
    PartnerPayload,
    PartnerRegisterInput,
    TierApplication,
    TierApplicationPayload,
    TierEnum,
    TierPolicy,
    TierPolicyInput,
    TierPolicyPayload,
)
from schema.permissions import requires
from schema.transactions import write

__all__ = ["PartnerMutation", "PartnerQuery"]

# Audit targets carry an integer key; tiers are keyed by name, so number them in order.
_TIER_KEYS = {tier: number for number, tier in enumerate(m.Tier, start=1)}


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
