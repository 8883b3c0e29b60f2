"""Installing apps in shops: the merchant's request, activation at the app's first token,
configuration, and uninstalling.

The install is the standard OAuth2 flow. ``request_install`` (the shop's business role)
records a pending installation and returns the authorization URL; the merchant approves on
the consent page; the app redeems the code with its PKCE verifier, and that redemption (the
``GrantHook`` the authorization server calls inside its token transaction) makes the
installation active and opens its one-time charge. Uninstalling revokes every grant the app
holds in the shop, so its very next call with any of those tokens is refused.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlencode

import orjson
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError
from app.events.outbox import record_event
from app.events.topics import Topic
from app.security.clients import client_by_id
from app.security.oauth.store import revoke_shop_grants
from marketplace.app_models import App, Installation, InstallationStatus
from marketplace.errors import MarketplaceErrorCode
from marketplace.listing_models import Listing, ListingStatus, PricingPlan
from marketplace.models import Partner, PartnerStatus
from marketplace.versions import assigned_version, bucket_of

__all__ = [
    "ActivationCharges",
    "InstallRequest",
    "activate_installation",
    "configure_installation",
    "installation_of_shop",
    "request_install",
    "uninstall",
]

MAX_SETTINGS_BYTES = 16 * 1024
ActivationCharges = Callable[
    [AsyncSession, Installation, PricingPlan | None, datetime], Awaitable[Any]
]
"""Opens the charges an activation owes (a one-time plan's price); wired from billing."""


@dataclass(frozen=True, slots=True)
class InstallRequest:
    installation: Installation
    authorization_url: str
    app_url: str | None


async def installation_of_shop(
    session: AsyncSession, shop_id: int, installation_id: int
) -> Installation:
    row = await session.scalar(
        select(Installation).where(
            Installation.id == installation_id, Installation.shop_id == shop_id
        )
    )
    if row is None:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such installation.", "id")
    return row


async def request_install(
    session: AsyncSession,
    *,
    shop_id: int,
    listing_id: int,
    plan_id: int | None,
    actor: str,
    public_url: str,
) -> InstallRequest:
    found = (
        await session.execute(
            select(Listing, App, Partner)
            .join(App, App.id == Listing.app_id)
            .join(Partner, Partner.id == Listing.partner_id)
            .where(Listing.id == listing_id)
        )
    ).first()
    if found is None or found[0].status is not ListingStatus.PUBLISHED:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such listing.", "listingId")
    listing, app, partner = found
    if partner.status is PartnerStatus.SUSPENDED:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such listing.", "listingId")
    plan = None
    if plan_id is not None:
        plan = await session.get(PricingPlan, plan_id)
        if plan is None or plan.listing_id != listing.id or not plan.active:
            raise DomainError.one(
                MarketplaceErrorCode.PLAN_MISMATCH, "Choose one of the listing's plans.", "planId"
            )
    current = await session.scalar(
        select(Installation).where(
            Installation.app_id == app.id,
            Installation.shop_id == shop_id,
            Installation.status != InstallationStatus.UNINSTALLED,
        )
    )
    if current is not None and current.status is InstallationStatus.ACTIVE:
        raise DomainError.one(
            MarketplaceErrorCode.ALREADY_INSTALLED, "The app is installed already.", "listingId"
        )
    installation = current or Installation(app_id=app.id, shop_id=shop_id)
    installation.listing_id = listing.id
    installation.plan_id = plan.id if plan else None
    installation.requested_by = actor
    session.add(installation)
    await session.flush()
    installation.bucket = bucket_of(installation.id)
    client = await client_by_id(session, app.client_id)
    assert client is not None
    query = urlencode(
        {
            "response_type": "code",
            "client_id": client.client_id,
            "redirect_uri": client.redirect_uris[0],
            "scope": " ".join(client.scopes),
            "state": f"install-{installation.id}",
        }
    )
    version = await assigned_version(session, installation)
    app_url = version.manifest.get("app_url") if version else None
    return InstallRequest(installation, f"{public_url}/oauth/authorize?{query}", app_url)


async def activate_installation(
    session: AsyncSession,
    client_id: str,
    shop_id: int,
    now: datetime,
    charge: ActivationCharges,
    scopes: Sequence[str] = (),
) -> Installation | None:
    """The app redeemed an authorization code for the shop: its pending installation turns
    active (one made through the consent page alone is recorded too) with the scopes that
    code carried. Idempotent: an active installation stays as it is and is charged once; a
    new grant for it (the app asked again) replaces its scopes."""
    app = await session.scalar(select(App).where(App.client_id == client_id))
    if app is None:
        return None  # a client registered outside the marketplace
    installation = await session.scalar(
        select(Installation)
        .where(
            Installation.app_id == app.id,
            Installation.shop_id == shop_id,
            Installation.status != InstallationStatus.UNINSTALLED,
        )
        .order_by(Installation.id.desc())
        .limit(1)
    )
    if installation is not None and installation.status is InstallationStatus.ACTIVE:
        installation.granted_scopes = sorted(set(scopes))
        return installation
    if installation is None:
        installation = Installation(app_id=app.id, shop_id=shop_id, requested_by="oauth")
        session.add(installation)
        await session.flush()
        installation.bucket = bucket_of(installation.id)
    installation.status = InstallationStatus.ACTIVE
    installation.activated_at = now
    installation.granted_scopes = sorted(set(scopes))
    if installation.listing_id is not None:
        await session.execute(
            update(Listing)
            .where(Listing.id == installation.listing_id)
            .values(installs=Listing.installs + 1)
            .execution_options(synchronize_session=False)
        )
    plan = await session.get(PricingPlan, installation.plan_id) if installation.plan_id else None
    await session.flush()
    await charge(session, installation, plan, now)
    _record(session, Topic.APPS_INSTALLED, installation, now)
    return installation


def _record(session: AsyncSession, topic: Topic, installation: Installation, now: datetime) -> None:
    record_event(
        session,
        topic,
        installation.shop_id,
        {
            "installation_id": installation.id,
            "app_id": installation.app_id,
            "scopes": list(installation.granted_scopes),
        },
        occurred_at=now,
    )


async def configure_installation(
    session: AsyncSession, shop_id: int, installation_id: int, settings: dict[str, Any]
) -> Installation:
    installation = await installation_of_shop(session, shop_id, installation_id)
    if installation.status is InstallationStatus.UNINSTALLED:
        raise DomainError.one(MarketplaceErrorCode.WRONG_STATE, "The app is uninstalled.", "id")
    if len(orjson.dumps(settings)) > MAX_SETTINGS_BYTES:
        raise DomainError.one(
            MarketplaceErrorCode.INVALID, "Settings take at most 16 KiB of JSON.", "settings"
        )
    installation.settings = settings
    await session.flush()
    return installation


async def uninstall(
    session: AsyncSession, shop_id: int, installation_id: int, now: datetime
) -> tuple[Installation, list[tuple[str, int]]]:
    """The installation ends and every grant of the app in the shop is revoked: the refresh
    tokens here, the access tokens by the ``(jti, exp)`` returned for the denylist."""
    installation = await installation_of_shop(session, shop_id, installation_id)
    if installation.status is InstallationStatus.UNINSTALLED:
        return installation, []
    was_active = installation.status is InstallationStatus.ACTIVE
    installation.status = InstallationStatus.UNINSTALLED
    installation.uninstalled_at = now
    if was_active and installation.listing_id is not None:
        await session.execute(
            update(Listing)
            .where(Listing.id == installation.listing_id, Listing.installs > 0)
            .values(installs=Listing.installs - 1)
            .execution_options(synchronize_session=False)
        )
    app = await session.get(App, installation.app_id)
    assert app is not None
    denied = await revoke_shop_grants(session, app.client_id, shop_id, now)
    if was_active:
        _record(session, Topic.APPS_UNINSTALLED, installation, now)
    await session.flush()
    return installation, denied
