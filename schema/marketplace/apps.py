"""Apps, their versions, credentials, sandbox and quota, through GraphQL, for the partner's
developers. Secrets are returned once, by the mutation that makes them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.identity.models import Shop
from app.security.clients import OAuthClient
from marketplace import apps as app_service
from marketplace import versions as version_service
from marketplace.app_models import App as AppRow
from marketplace.app_models import AppVersion as VersionRow
from marketplace.quotas import APP_PREFIX
from schema.auditing import Audit, row_state
from schema.marketplace.app_types import App, AppVersion, Manifest
from schema.marketplace.common import (
    MarketplaceError,
    marketplace_errors,
    partner_of_app,
    partner_of_input,
    partner_of_partner,
    partner_of_version,
    pk_of,
)
from schema.permissions import requires
from schema.transactions import write

__all__ = ["App", "AppMutation", "AppQuery", "AppVersion", "Manifest"]

APP_STATE = row_state(AppRow)
VERSION_STATE = row_state(VersionRow)


@strawberry.input
class AppCreateInput:
    partner_id: strawberry.ID
    name: str
    redirect_uris: list[str]
    scopes: list[str]


@strawberry.input
class ExtensionInput:
    point: str = strawberry.field(description='"shipping.rates" or "goods.recommendations".')
    url: str


@strawberry.input
class ManifestInput:
    app_url: str
    webhook_url: str | None = None
    extensions: list[ExtensionInput] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "app_url": self.app_url,
            "webhook_url": self.webhook_url,
            "extensions": {e.point: e.url for e in self.extensions or []},
        }


@strawberry.type
class AppCredentialsPayload:
    app: App | None
    client_secret: str | None = strawberry.field(description="Shown once.")
    signing_secret: str | None = strawberry.field(description="Shown once (appCreate only).")
    webhook_secret: str | None = strawberry.field(
        description="Signs the webhooks Agora sends the app. Shown once (appCreate only)."
    )
    previous_secret_valid_until: datetime | None
    errors: list[MarketplaceError]


@strawberry.type
class AppVersionPayload:
    version: AppVersion | None
    errors: list[MarketplaceError]


@strawberry.type
class SandboxTokenPayload:
    access_token: str | None
    shop_handle: str | None
    expires_in: int | None
    errors: list[MarketplaceError]


@dataclass(frozen=True, slots=True)
class _Created:
    app: AppRow
    client: OAuthClient
    client_secret: str
    signing_secret: str | None = None
    valid_until: datetime | None = None
    webhook_secret: str | None = None

    @property
    def id(self) -> int:
        return self.app.id


async def _client(session: AsyncSession, row: AppRow) -> OAuthClient:
    client = await session.scalar(select(OAuthClient).where(OAuthClient.client_id == row.client_id))
    assert client is not None
    return client


def _credentials(result: _Created | None, error: Any) -> AppCredentialsPayload:
    return AppCredentialsPayload(
        app=App.of(result.app, result.client) if result else None,
        client_secret=result.client_secret if result else None,
        signing_secret=result.signing_secret if result else None,
        webhook_secret=result.webhook_secret if result else None,
        previous_secret_valid_until=result.valid_until if result else None,
        errors=marketplace_errors(error),
    )


APP = partner_of_app("app_id")


@strawberry.type
class AppQuery:
    @strawberry.field(
        extensions=requires("partner_profile", "read", domain="partner", partner_of=APP),
        description="One of the partner's apps, for its members.",
    )
    async def app(self, info: Info, app_id: strawberry.ID) -> App | None:
        async with info.context.db.reader() as session:
            row = await session.get(AppRow, pk_of(app_id, "App", "appId"))
            return App.of(row, await _client(session, row)) if row else None

    @strawberry.field(
        extensions=requires(
            "partner_profile", "read", domain="partner", partner_of=partner_of_partner()
        ),
        description="The partner's apps.",
    )
    async def partner_apps(self, info: Info, partner_id: strawberry.ID) -> list[App]:
        async with info.context.db.reader() as session:
            rows = list(
                await session.scalars(
                    select(AppRow)
                    .where(AppRow.partner_id == info.context.partner_id)
                    .order_by(AppRow.id)
                )
            )
            clients = {
                c.client_id: c
                for c in await session.scalars(
                    select(OAuthClient).where(
                        OAuthClient.client_id.in_([r.client_id for r in rows])
                    )
                )
            }
        return [App.of(row, clients[row.client_id]) for row in rows]


@strawberry.type
class AppMutation:
    @strawberry.mutation(
        extensions=requires(
            "app",
            "write",
            domain="partner",
            partner_of=partner_of_input("partner_id", partner_of_partner),
        ),
        description="Register an app: returns its client, signing and webhook secrets once.",
    )
    async def app_create(self, info: Info, input: AppCreateInput) -> AppCredentialsPayload | None:
        services = info.context.services.marketplace

        async def work(session: AsyncSession) -> _Created:
            app, issued = await app_service.create_app(
                session,
                services.field_cipher,
                app_service.AppDraft(
                    pk_of(input.partner_id, "Partner", "input", "partnerId"),
                    input.name,
                    input.redirect_uris,
                    input.scopes,
                ),
                services.seed_sandbox,
            )
            return _Created(
                app,
                await _client(session, app),
                issued.client_secret,
                issued.signing_secret,
                webhook_secret=issued.webhook_secret,
            )

        audit = Audit("App", APP_STATE, target=lambda created: created.id, domain="partner")
        result, error = await write(info, work, audit)
        return _credentials(result, error)

    @strawberry.mutation(
        extensions=requires("app_credential", "write", domain="partner", partner_of=APP),
        description="A new client secret, shown once; the previous one keeps working for "
        "AGORA_APP_SECRET_GRACE_SECONDS.",
    )
    async def app_credentials_rotate(
        self, info: Info, app_id: strawberry.ID
    ) -> AppCredentialsPayload | None:
        services = info.context.services.marketplace

        async def work(session: AsyncSession) -> _Created:
            app, secret = await app_service.rotate_credentials(
                session,
                pk_of(app_id, "App", "appId"),
                grace=services.credential_grace,
                now=services.clock(),
            )
            client = await _client(session, app)
            return _Created(app, client, secret, valid_until=client.previous_secret_expires_at)

        audit = Audit("App", APP_STATE, target=lambda created: created.id, domain="partner")
        result, error = await write(info, work, audit)
        return _credentials(result, error)

    @strawberry.mutation(
        extensions=requires("app_version", "write", domain="partner", partner_of=APP),
        description="A new version (semver, above the newest); the first is current at once, "
        "later ones start at 0 % and move with appVersionRollout.",
    )
    async def app_version_create(
        self,
        info: Info,
        app_id: strawberry.ID,
        version: str,
        manifest: ManifestInput,
        changelog: str = "",
    ) -> AppVersionPayload | None:
        outbound = info.context.services.events.outbound

        async def work(session: AsyncSession) -> VersionRow:
            return await version_service.create_version(
                session,
                pk_of(app_id, "App", "appId"),
                version,
                changelog,
                manifest.to_dict(),
                outbound=outbound,
            )

        audit = Audit("AppVersion", VERSION_STATE, target=lambda row: row.id, domain="partner")
        row, error = await write(info, work, audit)
        return AppVersionPayload(
            version=AppVersion.of(row) if row else None, errors=marketplace_errors(error)
        )

    @strawberry.mutation(
        extensions=requires(
            "rollout", "write", domain="partner", partner_of=partner_of_version("version_id")
        ),
        description="Serve the version to this percent of installations (stable per "
        "installation; raising it never moves one back). 100 makes it current.",
    )
    async def app_version_rollout(
        self, info: Info, version_id: strawberry.ID, percent: int
    ) -> AppVersionPayload | None:
        async def work(session: AsyncSession) -> VersionRow:
            return await version_service.set_rollout(
                session, pk_of(version_id, "AppVersion", "versionId"), percent
            )

        audit = Audit(
            "AppVersion",
            VERSION_STATE,
            target=lambda row: row.id,
            before=lambda: pk_of(version_id, "AppVersion", "versionId"),
            domain="partner",
        )
        row, error = await write(info, work, audit)
        return AppVersionPayload(
            version=AppVersion.of(row) if row else None, errors=marketplace_errors(error)
        )

    @strawberry.mutation(
        extensions=requires("sandbox", "use", domain="partner", partner_of=APP),
        description="A token for the app's sandbox shop, with the app's scopes: it reaches "
        "that shop and nothing else.",
    )
    async def app_sandbox_token_create(
        self, info: Info, app_id: strawberry.ID
    ) -> SandboxTokenPayload | None:
        services = info.context.services

        async def work(session: AsyncSession) -> tuple[AppRow, OAuthClient, Shop]:
            app = await app_service.app_by_id(session, pk_of(app_id, "App", "appId"))
            shop = await session.get(Shop, app.sandbox_shop_id)
            assert shop is not None
            return app, await _client(session, app), shop

        audit = Audit("App", APP_STATE, target=lambda found: found[0].id, domain="partner")
        found, error = await write(info, work, audit)
        if found is None:
            return SandboxTokenPayload(
                access_token=None,
                shop_handle=None,
                expires_in=None,
                errors=marketplace_errors(error),
            )
        app, client, shop = found
        token = services.tokens.issue(
            f"{APP_PREFIX}{app.client_id}",
            scope=" ".join(client.scopes),
            extra={"client_id": app.client_id, "shop": shop.id, "sandbox": True},
        )
        return SandboxTokenPayload(
            access_token=token,
            shop_handle=shop.handle,
            expires_in=services.tokens.ttl_seconds,
            errors=[],
        )
