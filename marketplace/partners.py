"""Partners: registering, members, tiers and the applications for them, suspension.

The caller who registers a partner becomes its ``owner`` in the domain ``partner:<id>``, and the
owner adds people as ``developer`` or ``business`` there. Roles are Casbin assignments, so the
same enforcer that guards every other operation guards the partner's too. A tier change is
recorded with who made it and why, and announced so quotas follow at once.
"""

from __future__ import annotations

import re
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.contact import PersonalDataCipher, is_valid_email, normalize_email
from app.errors import DomainError, Problem
from app.security.clients import ClientStatus, OAuthClient
from app.security.rbac import assign_role, members_of, partner_domain, revoke_role
from marketplace.app_models import App
from marketplace.errors import MarketplaceErrorCode
from marketplace.models import (
    ApplicationStatus,
    Partner,
    PartnerStatus,
    PartnerTierChange,
    Tier,
    TierApplication,
)

__all__ = [
    "CONTACT_CONTEXT",
    "MEMBER_ROLES",
    "add_member",
    "change_tier",
    "contact_email_of",
    "partner_by_id",
    "register_partner",
    "remove_member",
    "review_application",
    "set_suspended",
    "submit_application",
]

CONTACT_CONTEXT = "partners.contact_email"
MEMBER_ROLES = ("developer", "business")
_WEBSITE = re.compile(r"^https?://[^\s/$.?#].[^\s]{0,480}$")
_TIER_ORDER = {tier: rank for rank, tier in enumerate(Tier)}


async def partner_by_id(session: AsyncSession, partner_id: int) -> Partner:
    partner = await session.get(Partner, partner_id)
    if partner is None:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such partner.", "partnerId")
    return partner


def contact_email_of(partner: Partner, cipher: PersonalDataCipher) -> str:
    return cipher.decrypt(partner.sealed_contact_email, context=CONTACT_CONTEXT)


async def register_partner(
    session: AsyncSession,
    cipher: PersonalDataCipher,
    *,
    name: str,
    contact_email: str,
    website: str,
    owner_user_id: int,
    now: datetime,
) -> Partner:
    problems: list[Problem] = []
    if not 1 <= len(name.strip()) <= 200:
        problems.append(
            Problem(MarketplaceErrorCode.INVALID, "A name is 1-200 characters.", ("name",))
        )
    email = normalize_email(contact_email)
    if not is_valid_email(email):
        problems.append(
            Problem(MarketplaceErrorCode.INVALID, "Enter a valid email.", ("contactEmail",))
        )
    if website and not _WEBSITE.match(website):
        problems.append(Problem(MarketplaceErrorCode.INVALID, "An http(s) URL.", ("website",)))
    if problems:
        raise DomainError(problems)
    actor = f"user:{owner_user_id}"
    partner = Partner(
        name=name.strip(),
        sealed_contact_email=cipher.encrypt(email, context=CONTACT_CONTEXT),
        website=website,
        created_by=actor,
    )
    session.add(partner)
    await session.flush()
    session.add(
        PartnerTierChange(
            partner_id=partner.id,
            from_tier=None,
            to_tier=partner.tier,
            reason="Registered",
            actor=actor,
            at=now,
        )
    )
    await assign_role(session, actor, "owner", partner_domain(partner.id))
    return partner


async def add_member(session: AsyncSession, partner_id: int, user_id: int, role: str) -> None:
    await partner_by_id(session, partner_id)
    if role not in MEMBER_ROLES:
        raise DomainError.one(
            MarketplaceErrorCode.INVALID, "A member is a developer or business.", "role"
        )
    if not await assign_role(session, f"user:{user_id}", role, partner_domain(partner_id)):
        raise DomainError.one(
            MarketplaceErrorCode.DUPLICATE, "They hold this role already.", "userId"
        )


async def remove_member(session: AsyncSession, partner_id: int, user_id: int, role: str) -> None:
    await partner_by_id(session, partner_id)
    domain = partner_domain(partner_id)
    if role == "owner":
        owners = [s for s, r in await members_of(session, domain) if r == "owner"]
        if owners == [f"user:{user_id}"]:
            raise DomainError.one(
                MarketplaceErrorCode.LAST_OWNER, "A partner keeps at least one owner.", "userId"
            )
    if not await revoke_role(session, f"user:{user_id}", role, domain):
        raise DomainError.one(
            MarketplaceErrorCode.NOT_FOUND, "They do not hold this role.", "userId"
        )


async def change_tier(
    session: AsyncSession,
    partner_id: int,
    tier: Tier,
    *,
    reason: str,
    actor: str,
    now: datetime,
) -> Partner:
    """Move the partner to ``tier`` and record why; the caller announces it after commit."""
    partner = await partner_by_id(session, partner_id)
    if not reason.strip():
        raise DomainError.one(MarketplaceErrorCode.INVALID, "Say why.", "reason")
    if partner.tier is tier:
        return partner
    session.add(
        PartnerTierChange(
            partner_id=partner.id,
            from_tier=partner.tier,
            to_tier=tier,
            reason=reason.strip()[:2000],
            actor=actor,
            at=now,
        )
    )
    partner.tier = tier
    await session.flush()
    return partner


async def submit_application(
    session: AsyncSession, partner_id: int, target: Tier, evidence: str, *, actor: str
) -> TierApplication:
    partner = await partner_by_id(session, partner_id)
    problems: list[Problem] = []
    if _TIER_ORDER[target] <= _TIER_ORDER[partner.tier]:
        problems.append(
            Problem(
                MarketplaceErrorCode.INVALID, "Apply for a tier above your own.", ("targetTier",)
            )
        )
    if not 20 <= len(evidence.strip()) <= 10_000:
        problems.append(
            Problem(
                MarketplaceErrorCode.INVALID,
                "Describe your case in 20 to 10,000 characters.",
                ("evidence",),
            )
        )
    pending = await session.scalar(
        select(TierApplication.id).where(
            TierApplication.partner_id == partner_id,
            TierApplication.status == ApplicationStatus.PENDING,
        )
    )
    if pending is not None:
        problems.append(
            Problem(
                MarketplaceErrorCode.DUPLICATE,
                "An application is already waiting for review.",
                ("targetTier",),
            )
        )
    if problems:
        raise DomainError(problems)
    application = TierApplication(
        partner_id=partner_id, target_tier=target, evidence=evidence.strip(), submitted_by=actor
    )
    session.add(application)
    await session.flush()
    return application


async def review_application(
    session: AsyncSession,
    application_id: int,
    *,
    approve: bool,
    notes: str,
    actor: str,
    now: datetime,
) -> TierApplication:
    """Decide once (a conditional UPDATE from PENDING); approval changes the tier."""
    status = ApplicationStatus.APPROVED if approve else ApplicationStatus.REJECTED
    decided = await session.execute(
        update(TierApplication)
        .where(
            TierApplication.id == application_id,
            TierApplication.status == ApplicationStatus.PENDING,
        )
        .values(status=status, notes=notes[:5000], reviewed_by=actor, decided_at=now)
        .returning(TierApplication.id)
        .execution_options(synchronize_session=False)
    )
    application = await session.get(TierApplication, application_id, populate_existing=True)
    if application is None:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such application.", "id")
    if decided.first() is None:
        raise DomainError.one(
            MarketplaceErrorCode.ALREADY_DECIDED, "This application was decided already.", "id"
        )
    if approve:
        await change_tier(
            session,
            application.partner_id,
            application.target_tier,
            reason=f"Application {application.id} approved. {notes}".strip(),
            actor=actor,
            now=now,
        )
    return application


async def set_suspended(session: AsyncSession, partner_id: int, suspended: bool) -> Partner:
    """Suspend or reinstate: the partner's OAuth clients follow, so no new token is issued and
    no signed call verifies while suspended. Idempotent by state."""
    partner = await partner_by_id(session, partner_id)
    partner.status = PartnerStatus.SUSPENDED if suspended else PartnerStatus.ACTIVE
    await session.execute(
        update(OAuthClient)
        .where(OAuthClient.client_id.in_(select(App.client_id).where(App.partner_id == partner_id)))
        .values(status=ClientStatus.SUSPENDED if suspended else ClientStatus.ACTIVE)
        .execution_options(synchronize_session=False)
    )
    await session.flush()
    return partner
