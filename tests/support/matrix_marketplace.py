"""Role-matrix rows for partners, tiers, apps and installs, for tests/schema/test_role_matrix.py.

Builders that act for a partner make one (``make_partner`` remembers it on the world), so the
matrix grants the partner roles in that partner's domain; a caller with the role in another
partner is refused like anyone else.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from marketplace.installs import request_install
from marketplace.listing_models import (
    Listing,
    ListingRevision,
    ListingStatus,
    PlanKind,
    PricingPlan,
    RevisionStatus,
)
from marketplace.models import Tier
from marketplace.partners import submit_application
from marketplace.versions import create_version
from tests.support.factories import World, gid
from tests.support.marketplace import make_app, make_partner

__all__ = ["MARKETPLACE_ROWS", "published_listing"]

Request = tuple[str, dict[str, Any]]
Builder = Callable[[World], Awaitable[Request]]
ANYONE_SIGNED_IN = frozenset(
    {
        "customer",
        "shopper",
        "business",
        "owner",
        "partner_business",
        "developer",
        "ops",
        "finance",
        "community_admin",
    }
)
MEMBERS = frozenset({"owner", "partner_business", "developer"})
DEVELOPERS = frozenset({"owner", "developer"})
OWNER = frozenset({"owner"})
ADMIN = frozenset({"community_admin"})
SHOP_STAFF = frozenset({"business"})
MANIFEST = '{appUrl: "https://app.example", webhookUrl: "https://app.example/hooks"}'


async def published_listing(world: World, *, plan: PlanKind = PlanKind.FREE) -> tuple[int, int]:
    """A published listing of a new app, with one plan: (listing id, plan id)."""
    partner, _ = await make_partner(world)
    app, _ = await make_app(world, partner)
    async with world.services.db.writer() as session, session.begin():
        listing = Listing(
            app_id=app.id,
            partner_id=partner,
            slug=f"l-{uuid.uuid4().hex[:10]}",
            status=ListingStatus.PUBLISHED,
            published_at=datetime.now(UTC),
        )
        session.add(listing)
        await session.flush()
        session.add(
            ListingRevision(
                listing_id=listing.id, number=1, name="An app", status=RevisionStatus.PUBLISHED
            )
        )
        row = PricingPlan(
            listing_id=listing.id,
            name="Plan",
            kind=plan,
            amount=0 if plan is PlanKind.FREE else 900,
            currency="EUR",
        )
        session.add(row)
        await session.flush()
        return listing.id, row.id


async def partner_register(world: World) -> Request:
    return (
        'mutation { partnerRegister(input: {name: "P", contactEmail: "p@example.com"}) { errors { code } } }',
        {},
    )


async def partner_query(world: World) -> Request:
    partner, _ = await make_partner(world)
    return "query($p: ID!) { partner(partnerId: $p) { name contactEmail tierHistory { to } } }", {
        "p": gid("Partner", partner)
    }


async def member_add(world: World) -> Request:
    partner, _ = await make_partner(world)
    user, _ = await world.user()
    query = "mutation($p: ID!, $u: ID!) { partnerMemberAdd(partnerId: $p, userId: $u, role: DEVELOPER) { errors { code } } }"
    return query, {"p": gid("Partner", partner), "u": gid("User", user)}


async def member_remove(world: World) -> Request:
    partner, _ = await make_partner(world)
    user, _ = await world.user("developer", domain=f"partner:{partner}")
    query = "mutation($p: ID!, $u: ID!) { partnerMemberRemove(partnerId: $p, userId: $u, role: DEVELOPER) { errors { code } } }"
    return query, {"p": gid("Partner", partner), "u": gid("User", user)}


async def tier_policy_update(world: World) -> Request:
    return (
        "mutation { tierPolicyUpdate(tier: STANDARD, input: {listingBoost: 0.0}) { errors { code } } }",
        {},
    )


async def tier_change(world: World) -> Request:
    partner, _ = await make_partner(world)
    query = 'mutation($p: ID!) { partnerTierChange(partnerId: $p, tier: ADVANCED, reason: "Growth") { errors { code } } }'
    return query, {"p": gid("Partner", partner)}


async def application_submit(world: World) -> Request:
    partner, _ = await make_partner(world)
    query = 'mutation($p: ID!) { tierApplicationSubmit(partnerId: $p, targetTier: ADVANCED, evidence: "Two hundred merchants use our app daily.") { errors { code } } }'
    return query, {"p": gid("Partner", partner)}


async def _application(world: World) -> str:
    partner, _ = await make_partner(world)
    async with world.services.db.writer() as session, session.begin():
        row = await submit_application(
            session, partner, Tier.ADVANCED, "Two hundred merchants use our app daily.", actor="t"
        )
    return gid("TierApplication", row.id)


async def application_review(world: World) -> Request:
    query = 'mutation($id: ID!) { tierApplicationReview(id: $id, decision: APPROVE, notes: "ok") { errors { code } } }'
    return query, {"id": await _application(world)}


async def applications(world: World) -> Request:
    await _application(world)
    return "{ tierApplications { targetTier } }", {}


async def suspend(world: World) -> Request:
    partner, _ = await make_partner(world)
    return "mutation($p: ID!) { partnerSuspend(partnerId: $p) { errors { code } } }", {
        "p": gid("Partner", partner)
    }


async def reinstate(world: World) -> Request:
    partner, _ = await make_partner(world)
    return "mutation($p: ID!) { partnerReinstate(partnerId: $p) { errors { code } } }", {
        "p": gid("Partner", partner)
    }


async def _app(world: World) -> str:
    partner, _ = await make_partner(world)
    app, _ = await make_app(world, partner)
    return gid("App", app.id)


async def app_query(world: World) -> Request:
    return "query($a: ID!) { app(appId: $a) { name quota { tier dailyLimit } } }", {
        "a": await _app(world)
    }


async def partner_apps(world: World) -> Request:
    partner, _ = await make_partner(world)
    return "query($p: ID!) { partnerApps(partnerId: $p) { name } }", {"p": gid("Partner", partner)}


async def app_create(world: World) -> Request:
    partner, _ = await make_partner(world)
    query = 'mutation($p: ID!) { appCreate(input: {partnerId: $p, name: "A", redirectUris: ["https://a.example/cb"], scopes: ["goods:read"]}) { clientSecret errors { code } } }'
    return query, {"p": gid("Partner", partner)}


async def credentials_rotate(world: World) -> Request:
    query = "mutation($a: ID!) { appCredentialsRotate(appId: $a) { clientSecret errors { code } } }"
    return query, {"a": await _app(world)}


async def version_create(world: World) -> Request:
    query = f'mutation($a: ID!) {{ appVersionCreate(appId: $a, version: "1.0.0", manifest: {MANIFEST}) {{ errors {{ code }} }} }}'
    return query, {"a": await _app(world)}


async def version_rollout(world: World) -> Request:
    partner, _ = await make_partner(world)
    app, _ = await make_app(world, partner)
    async with world.services.db.writer() as session, session.begin():
        await create_version(session, app.id, "1.0.0", "", {"app_url": "https://app.example"})
        second = await create_version(
            session, app.id, "1.1.0", "", {"app_url": "https://app.example/v2"}
        )
    query = (
        "mutation($v: ID!) { appVersionRollout(versionId: $v, percent: 25) { errors { code } } }"
    )
    return query, {"v": gid("AppVersion", second.id)}


async def sandbox_token(world: World) -> Request:
    query = "mutation($a: ID!) { appSandboxTokenCreate(appId: $a) { accessToken errors { code } } }"
    return query, {"a": await _app(world)}


async def installations(world: World) -> Request:
    return "{ installations { status } }", {}


async def app_install(world: World) -> Request:
    listing, plan = await published_listing(world)
    query = "mutation($l: ID!, $p: ID) { appInstall(listingId: $l, planId: $p) { authorizationUrl errors { code } } }"
    return query, {"l": gid("Listing", listing), "p": gid("PricingPlan", plan)}


async def _installation(world: World) -> str:
    listing, plan = await published_listing(world)
    async with world.services.db.writer() as session, session.begin():
        made = await request_install(
            session,
            shop_id=world.shop.id,
            listing_id=listing,
            plan_id=plan,
            actor="t",
            public_url="http://testserver",
        )
    return gid("Installation", made.installation.id)


async def installation_configure(world: World) -> Request:
    query = 'mutation($i: ID!) { installationConfigure(id: $i, settings: {theme: "dark"}) { errors { code } } }'
    return query, {"i": await _installation(world)}


async def app_uninstall(world: World) -> Request:
    query = "mutation($i: ID!) { appUninstall(id: $i) { errors { code } } }"
    return query, {"i": await _installation(world)}


MARKETPLACE_ROWS: dict[str, tuple[frozenset[str] | None, Builder]] = {
    "Mutation.partnerRegister": (ANYONE_SIGNED_IN, partner_register),
    "Query.partner": (MEMBERS, partner_query),
    "Mutation.partnerMemberAdd": (OWNER, member_add),
    "Mutation.partnerMemberRemove": (OWNER, member_remove),
    "Mutation.tierPolicyUpdate": (ADMIN, tier_policy_update),
    "Mutation.partnerTierChange": (ADMIN, tier_change),
    "Mutation.tierApplicationSubmit": (OWNER, application_submit),
    "Mutation.tierApplicationReview": (ADMIN, application_review),
    "Query.tierApplications": (ADMIN, applications),
    "Mutation.partnerSuspend": (ADMIN, suspend),
    "Mutation.partnerReinstate": (ADMIN, reinstate),
    "Query.app": (MEMBERS, app_query),
    "Query.partnerApps": (MEMBERS, partner_apps),
    "Mutation.appCreate": (DEVELOPERS, app_create),
    "Mutation.appCredentialsRotate": (DEVELOPERS, credentials_rotate),
    "Mutation.appVersionCreate": (DEVELOPERS, version_create),
    "Mutation.appVersionRollout": (DEVELOPERS, version_rollout),
    "Mutation.appSandboxTokenCreate": (DEVELOPERS, sandbox_token),
    "Query.installations": (SHOP_STAFF, installations),
    "Mutation.appInstall": (SHOP_STAFF, app_install),
    "Mutation.installationConfigure": (SHOP_STAFF, installation_configure),
    "Mutation.appUninstall": (SHOP_STAFF, app_uninstall),
}
