"""Apps: registering one for a partner, its credentials, and its sandbox shop.

An app is an OAuth client whose scopes its partner's tier allows (core scopes are strategic
only), up to the tier's ``max_apps``. The client secret is shown once and kept hashed; rotating
it keeps the old one valid for a grace period so a partner can deploy the new one without an
outage. Every app gets a sandbox shop of its own, seeded with demo data through the
``SandboxSeeder`` port, where a sandbox token reaches that shop and nothing else.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, Problem
from app.identity.models import Shop
from app.security.clients import (
    client_by_id,
    register_client,
    rotate_client_secret,
)
from app.security.encryption import FieldCipher
from app.security.oauth.scopes import SCOPES
from marketplace.app_models import App
from marketplace.errors import MarketplaceErrorCode
from marketplace.models import Partner, PartnerStatus
from marketplace.tiers import policy_of
from marketplace.webhook_secrets import new_webhook_secret

__all__ = [
    "AppDraft",
    "AppSecrets",
    "SandboxSeeder",
    "app_by_id",
    "create_app",
    "rotate_credentials",
]

SandboxSeeder = Callable[[AsyncSession, Shop], Awaitable[None]]
"""Fills a new sandbox shop with demo data (wired in app/main.py; goods is not ours to touch)."""

MAX_REDIRECT_URIS = 10
_LOCAL = re.compile(r"^http://(127\.0\.0\.1|localhost)(:\d+)?(/.*)?$")
GRANT_TYPES = ["authorization_code", "refresh_token", "client_credentials"]


@dataclass(frozen=True, slots=True)
class AppSecrets:
    """Everything an app authenticates or verifies with, shown once at registration."""

    client_id: str
    client_secret: str
    signing_secret: str
    webhook_secret: str


@dataclass(frozen=True, slots=True)
class AppDraft:
    partner_id: int
    name: str
    redirect_uris: Sequence[str]
    scopes: Sequence[str]


async def app_by_id(session: AsyncSession, app_id: int) -> App:
    app = await session.get(App, app_id)
    if app is None:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such app.", "appId")
    return app


def _redirect_problems(uris: Sequence[str]) -> list[Problem]:
    problems = []
    if not 1 <= len(uris) <= MAX_REDIRECT_URIS:
        problems.append(
            Problem(
                MarketplaceErrorCode.INVALID,
                f"Give 1 to {MAX_REDIRECT_URIS} redirect URIs.",
                ("redirectUris",),
            )
        )
    for index, uri in enumerate(uris):
        if len(uri) > 2000 or not (uri.startswith("https://") or _LOCAL.match(uri)) or "#" in uri:
            problems.append(
                Problem(
                    MarketplaceErrorCode.INVALID,
                    "An https URL (http only on localhost), without a fragment.",
                    ("redirectUris", str(index)),
                )
            )
    return problems


async def create_app(
    session: AsyncSession,
    cipher: FieldCipher,
    draft: AppDraft,
    seed_sandbox: SandboxSeeder,
) -> tuple[App, AppSecrets]:
    """The app and its credentials (the secrets are shown this once)."""
    partner = await session.scalar(
        select(Partner).where(Partner.id == draft.partner_id).with_for_update()
    )
    if partner is None:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such partner.", "partnerId")
    if partner.status is PartnerStatus.SUSPENDED:
        raise DomainError.one(
            MarketplaceErrorCode.PARTNER_SUSPENDED, "The partner is suspended.", "partnerId"
        )
    policy = await policy_of(session, partner.tier)
    problems = _redirect_problems(draft.redirect_uris)
    if not 1 <= len(draft.name.strip()) <= 200:
        problems.append(
            Problem(MarketplaceErrorCode.INVALID, "A name is 1-200 characters.", ("name",))
        )
    for index, scope in enumerate(draft.scopes):
        if scope not in SCOPES:
            problems.append(
                Problem(MarketplaceErrorCode.INVALID, "No such scope.", ("scopes", str(index)))
            )
        elif scope not in policy.allowed_scopes:
            problems.append(
                Problem(
                    MarketplaceErrorCode.SCOPE_NOT_ALLOWED,
                    f"The {partner.tier.value} tier may not ask for {scope}.",
                    ("scopes", str(index)),
                )
            )
    apps = await session.scalar(
        select(func.count()).select_from(App).where(App.partner_id == partner.id)
    )
    if policy.max_apps is not None and (apps or 0) >= policy.max_apps:
        problems.append(
            Problem(
                MarketplaceErrorCode.MAX_APPS_REACHED,
                f"The {partner.tier.value} tier allows {policy.max_apps} apps.",
                ("partnerId",),
            )
        )
    if problems:
        raise DomainError(problems)
    credentials = await register_client(
        session,
        cipher,
        name=draft.name.strip(),
        scopes=list(draft.scopes),
        redirect_uris=list(draft.redirect_uris),
        grant_types=GRANT_TYPES,
    )
    sandbox = Shop(
        handle=f"sandbox-{secrets.token_hex(6)}",
        name=f"{draft.name.strip()[:180]} (sandbox)",
        currency="EUR",
        sandbox=True,
    )
    session.add(sandbox)
    await session.flush()
    await seed_sandbox(session, sandbox)
    webhook_secret, sealed = new_webhook_secret(cipher)
    app = App(
        partner_id=partner.id,
        name=draft.name.strip(),
        client_id=credentials.client_id,
        sandbox_shop_id=sandbox.id,
        webhook_secret=sealed,
    )
    session.add(app)
    await session.flush()
    return app, AppSecrets(
        credentials.client_id,
        credentials.client_secret,
        credentials.signing_secret,
        webhook_secret,
    )


async def rotate_credentials(
    session: AsyncSession, app_id: int, *, grace: timedelta, now: datetime
) -> tuple[App, str]:
    """A new client secret, shown once; the previous one keeps working for ``grace``."""
    app = await app_by_id(session, app_id)
    client = await client_by_id(session, app.client_id)
    assert client is not None
    return app, await rotate_client_secret(session, client, grace=grace, now=now)
