"""Partners and apps made straight through the marketplace services, so that a test starts
from the partner, app or sandbox it is about."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

from sqlalchemy import update

from app.security.rbac import assign_role, partner_domain
from marketplace.app_models import App
from marketplace.apps import AppDraft, AppSecrets, create_app
from marketplace.models import Partner, Tier
from marketplace.partners import register_partner
from tests.support.factories import World

__all__ = ["REDIRECT_URI", "make_app", "make_partner", "member", "set_tier"]

REDIRECT_URI = "https://app.example/callback"


async def make_partner(world: World, *, tier: Tier = Tier.STANDARD) -> tuple[int, str]:
    """A partner whose owner is a new user: (partner id, the owner's token). The world
    remembers the partner, so the role matrix grants partner roles in its domain."""
    owner_id, token = await world.user()
    services = world.services
    async with services.db.writer() as session, session.begin():
        partner = await register_partner(
            session,
            services.trade.cipher,
            name=f"Partner {uuid.uuid4().hex[:6]}",
            contact_email="partners@example.com",
            website="https://partner.example",
            owner_user_id=owner_id,
            now=datetime.now(UTC),
        )
        if tier is not Tier.STANDARD:
            await session.execute(update(Partner).where(Partner.id == partner.id).values(tier=tier))
    world.partner_id = partner.id
    return partner.id, token


async def member(world: World, partner_id: int, role: str) -> tuple[int, str]:
    """A user holding ``role`` (developer, business) in the partner: (id, token)."""
    user_id, token = await world.user()
    async with world.services.db.writer() as session, session.begin():
        await assign_role(session, f"user:{user_id}", role, partner_domain(partner_id))
    return user_id, token


async def make_app(
    world: World, partner_id: int, scopes: tuple[str, ...] = ("goods:read", "billing:usage")
) -> tuple[App, AppSecrets]:
    """An app of the partner, with its sandbox shop, through the service."""
    services = world.services
    marketplace = services.marketplace
    async with services.db.writer() as session, session.begin():
        app, credentials = await create_app(
            session,
            marketplace.field_cipher,
            AppDraft(partner_id, f"App {uuid.uuid4().hex[:6]}", [REDIRECT_URI], list(scopes)),
            marketplace.seed_sandbox,
        )
    return app, credentials


async def set_tier(world: World, partner_id: int, tier: Tier) -> None:
    async with world.services.db.writer() as session, session.begin():
        await session.execute(update(Partner).where(Partner.id == partner_id).values(tier=tier))
    await world.services.marketplace.announce_tier_change()
