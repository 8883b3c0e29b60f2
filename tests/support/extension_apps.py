"""Strategic apps with extensions, installed in a test's shop, and an extension caller that
reaches them over real HTTP (the ``receiver`` fixture)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from app.config import Settings
from app.security.outbound import OutboundPolicy
from app.security.outbound_client import OutboundClient
from marketplace.app_models import App, AppVersion
from marketplace.charges import create_activation_charges
from marketplace.extension_models import ExtensionFailure
from marketplace.extensions import Extensions, build_extensions
from marketplace.installs import activate_installation
from marketplace.models import Tier
from marketplace.versions import create_version, set_rollout
from tests.support.clock import MutableClock
from tests.support.factories import World
from tests.support.marketplace import make_app, make_partner

__all__ = [
    "EXTENSION_SCOPES",
    "LOOPBACK",
    "ExtensionApp",
    "add_version",
    "extension_app",
    "failures_of",
    "install",
    "running_extensions",
]

LOOPBACK = OutboundPolicy(allow_loopback=True)
EXTENSION_SCOPES = ("goods:read", "extensions:shipping_rates", "extensions:recommendations")


@dataclass(frozen=True)
class ExtensionApp:
    app: App
    partner_id: int
    webhook_secret: str
    installation_id: int
    bucket: int


async def add_version(
    world: World,
    app_id: int,
    version: str,
    extensions: dict[str, str],
    *,
    rollout: int | None = None,
    outbound: OutboundPolicy = LOOPBACK,
) -> AppVersion:
    manifest: dict[str, Any] = {"app_url": "https://app.example", "extensions": extensions}
    async with world.services.db.writer() as session, session.begin():
        row = await create_version(session, app_id, version, "", manifest, outbound=outbound)
        if rollout is not None:
            row = await set_rollout(session, row.id, rollout)
    return row


async def install(
    world: World, app: App, scopes: tuple[str, ...] = EXTENSION_SCOPES
) -> tuple[int, int]:
    """The app installed (active) in the world's shop with ``scopes``: (id, bucket)."""
    async with world.services.db.writer() as session, session.begin():
        installation = await activate_installation(
            session,
            app.client_id,
            world.shop.id,
            datetime.now(UTC),
            create_activation_charges,
            list(scopes),
        )
        assert installation is not None
        return installation.id, installation.bucket


async def extension_app(
    world: World,
    extensions: dict[str, str],
    *,
    tier: Tier = Tier.STRATEGIC,
    granted: tuple[str, ...] = EXTENSION_SCOPES,
) -> ExtensionApp:
    """A strategic partner's app whose first version declares ``extensions``, installed in
    the world's shop with ``granted`` scopes."""
    partner_id, _ = await make_partner(world, tier=tier)
    app, secrets = await make_app(world, partner_id, scopes=EXTENSION_SCOPES)
    await add_version(world, app.id, "1.0.0", extensions)
    installation_id, bucket = await install(world, app, granted)
    return ExtensionApp(app, partner_id, secrets.webhook_secret, installation_id, bucket)


async def failures_of(world: World, app_id: int) -> list[ExtensionFailure]:
    async with world.services.db.reader() as session:
        rows = await session.scalars(
            select(ExtensionFailure)
            .where(ExtensionFailure.app_id == app_id)
            .order_by(ExtensionFailure.id)
        )
        return list(rows)


@asynccontextmanager
async def running_extensions(
    world: World,
    settings: Settings,
    *,
    clock: MutableClock | None = None,
    timeout_seconds: float = 2.0,
    outbound: OutboundPolicy = LOOPBACK,
    lookup_ttl_seconds: float = 0.0,
) -> AsyncIterator[Extensions]:
    """An extension caller over the suite's database, with its own HTTP client (closed at
    the end); no lookup cache unless asked, so each call sees the test's latest change."""
    services = world.services
    extensions = build_extensions(
        settings,
        services.db,
        services.cipher,
        clock or MutableClock(),
        outbound=outbound,
        client=OutboundClient(outbound, max_body_bytes=64 * 1024),
        timeout_seconds=timeout_seconds,
        lookup_ttl_seconds=lookup_ttl_seconds,
    )
    try:
        yield extensions
    finally:
        await extensions.close()
