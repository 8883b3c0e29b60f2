"""An app installed in the world's shop through the real OAuth flow, with its webhook URL on
the test receiver: the starting point of every webhook test that goes through the API."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx

from app.security.clients import IssuedCredentials
from app.security.outbound import OutboundPolicy
from marketplace.app_models import App
from marketplace.apps import AppSecrets
from marketplace.listing_models import (
    Listing,
    ListingRevision,
    ListingStatus,
    PlanKind,
    PricingPlan,
    RevisionStatus,
)
from marketplace.versions import create_version
from marketplace.webhooks import SubscriptionRequest, create_subscription
from tests.support.factories import World, gid, unique
from tests.support.graphql import GraphQLClient
from tests.support.installing import complete_install
from tests.support.marketplace import make_app, make_partner

__all__ = ["LOOPBACK", "InstalledApp", "install_app", "subscribe_app"]

LOOPBACK = OutboundPolicy(allow_loopback=True)
INSTALL = "mutation($l: ID!, $p: ID) { appInstall(listingId: $l, planId: $p) { authorizationUrl errors { code } } }"


@dataclass(frozen=True)
class InstalledApp:
    app: App
    secrets: AppSecrets
    partner_id: int
    partner_token: str
    access_token: str  # the app's install token for the world's shop
    scopes: tuple[str, ...]

    @property
    def gid(self) -> str:
        return gid("App", self.app.id)


async def _listing(world: World, app: App, partner_id: int) -> tuple[int, int]:
    async with world.services.db.writer() as session, session.begin():
        listing = Listing(
            app_id=app.id,
            partner_id=partner_id,
            slug=f"l-{uuid.uuid4().hex[:10]}",
            status=ListingStatus.PUBLISHED,
            published_at=datetime.now(UTC),
        )
        session.add(listing)
        await session.flush()
        session.add(
            ListingRevision(
                listing_id=listing.id, number=1, name="Hooks", status=RevisionStatus.PUBLISHED
            )
        )
        plan = PricingPlan(
            listing_id=listing.id, name="Free", kind=PlanKind.FREE, amount=0, currency="EUR"
        )
        session.add(plan)
        await session.flush()
        return listing.id, plan.id


async def install_app(
    world: World,
    http: httpx.AsyncClient,
    gql: GraphQLClient,
    *,
    webhook_url: str | None,
    scopes: tuple[str, ...] = ("trade:read", "logistics:read", "goods:read", "webhooks"),
    manifest: dict[str, Any] | None = None,
) -> InstalledApp:
    """A new partner's app with version 1.0.0 pointing at ``webhook_url``, installed in the
    world's shop by a merchant who granted every scope the app asks for."""
    partner_id, partner_token = await make_partner(world)
    app, secrets = await make_app(world, partner_id, scopes=scopes)
    async with world.services.db.writer() as session, session.begin():
        body = {"app_url": "https://app.example"} | (manifest or {})
        if webhook_url is not None:
            body["webhook_url"] = webhook_url
        await create_version(session, app.id, "1.0.0", "", body, outbound=LOOPBACK)
    listing, plan = await _listing(world, app, partner_id)
    email = f"{unique('biz')}@example.com"
    _, merchant = await world.user("business", email=email)
    asked = (
        await gql(
            INSTALL,
            {"l": gid("Listing", listing), "p": gid("PricingPlan", plan)},
            shop=world.handle,
            token=merchant,
        )
    ).ok()["appInstall"]
    assert asked["errors"] == [], asked
    credentials = IssuedCredentials(app.client_id, secrets.client_secret, secrets.signing_secret)
    http.cookies.clear()  # a new merchant signs in on the consent page
    tokens = await complete_install(http, world, credentials, asked["authorizationUrl"], email)
    return InstalledApp(app, secrets, partner_id, partner_token, tokens["access_token"], scopes)


async def subscribe_app(
    world: World, installed: InstalledApp, *topics: str, payload_version: int = 2
) -> int:
    """A subscription made straight through the service (tests of the API make their own)."""
    async with world.services.db.writer() as session, session.begin():
        row = await create_subscription(
            session,
            SubscriptionRequest(installed.app.id, list(topics), payload_version, "test"),
            list(installed.scopes),
            LOOPBACK,
        )
        return row.id
