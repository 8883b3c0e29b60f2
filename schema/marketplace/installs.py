"""Installing apps through GraphQL, for the shop's business role only.

``appInstall`` returns the authorization URL the merchant approves at; the app redeems the code
with PKCE and the installation turns active then. Configuring and uninstalling belong to the
shop alone: a partner's developers and ops hold no ``install`` permission in a shop, which is
the three-powers rule.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.scalars import JSON
from strawberry.types import Info

from marketplace import installs
from marketplace.app_models import App as AppRow
from marketplace.app_models import Installation as InstallationRow
from marketplace.versions import assigned_version
from schema.auditing import Audit, row_state
from schema.marketplace.apps import AppVersion
from schema.marketplace.common import MarketplaceError, marketplace_errors, pk_of
from schema.node import Node, encode_id
from schema.permissions import requires
from schema.transactions import write

__all__ = ["InstallMutation", "InstallQuery", "Installation"]

INSTALLATION_STATE = row_state(InstallationRow)
INSTALL = requires("install", "write")
InstallationStatusEnum = strawberry.enum(installs.InstallationStatus, name="InstallationStatus")


@strawberry.type
class Installation(Node):
    app_name: str
    status: InstallationStatusEnum  # type: ignore[valid-type]
    settings: JSON
    created_at: datetime
    activated_at: datetime | None
    row: strawberry.Private[InstallationRow]

    @classmethod
    def of(cls, row: InstallationRow, app_name: str) -> Installation:
        return cls(
            id=encode_id("Installation", row.id),
            app_name=app_name,
            status=row.status,
            settings=row.settings,
            created_at=row.created_at,
            activated_at=row.activated_at,
            row=row,
        )

    @strawberry.field(
        description="The app version this installation uses (canary rollout); its manifest "
        "holds the endpoints Agora calls for this shop."
    )
    async def version(self, info: Info) -> AppVersion | None:
        async with info.context.db.reader() as session:
            found = await assigned_version(session, self.row)
        return AppVersion.of(found) if found else None


@strawberry.type
class AppInstallPayload:
    installation: Installation | None
    authorization_url: str | None = strawberry.field(
        description="Send the merchant here; the app adds its PKCE code_challenge "
        "(S256) before redirecting, as OAuth requires."
    )
    app_url: str | None = strawberry.field(description="The app's own page, from its manifest.")
    errors: list[MarketplaceError]


@strawberry.type
class InstallationPayload:
    installation: Installation | None
    errors: list[MarketplaceError]


async def _app_name(session: AsyncSession, row: InstallationRow) -> str:
    return await session.scalar(select(AppRow.name).where(AppRow.id == row.app_id)) or ""


async def _view(info: Info, row: InstallationRow | None) -> Installation | None:
    if row is None:
        return None
    async with info.context.db.reader() as session:
        return Installation.of(row, await _app_name(session, row))


def _audit(before: strawberry.ID | None = None) -> Audit[Any]:
    return Audit(
        "Installation",
        INSTALLATION_STATE,
        target=lambda row: row.id,
        before=(lambda: pk_of(before, "Installation", "id")) if before is not None else None,
    )


@strawberry.type
class InstallQuery:
    @strawberry.field(extensions=INSTALL, description="The shop's installations, newest first.")
    async def installations(self, info: Info) -> list[Installation]:
        shop = info.context.require_shop()
        async with info.context.db.reader() as session:
            rows = (
                await session.execute(
                    select(InstallationRow, AppRow.name)
                    .join(AppRow, AppRow.id == InstallationRow.app_id)
                    .where(InstallationRow.shop_id == shop.id)
                    .order_by(InstallationRow.id.desc())
                    .limit(200)
                )
            ).all()
        return [Installation.of(row, name) for row, name in rows]


@strawberry.type
class InstallMutation:
    @strawberry.mutation(
        extensions=INSTALL,
        description="Start installing a published listing's app in this shop with a plan.",
    )
    async def app_install(
        self, info: Info, listing_id: strawberry.ID, plan_id: strawberry.ID | None = None
    ) -> AppInstallPayload | None:
        context = info.context
        shop = context.require_shop()
        services = context.services.marketplace
        principal = context.principal

        async def work(session: AsyncSession) -> installs.InstallRequest:
            return await installs.request_install(
                session,
                shop_id=shop.id,
                listing_id=pk_of(listing_id, "Listing", "listingId"),
                plan_id=pk_of(plan_id, "PricingPlan", "planId") if plan_id else None,
                actor=principal.subject if principal else "",
                public_url=services.public_url,
            )

        audit = Audit(
            "Installation",
            INSTALLATION_STATE,
            target=lambda request: request.installation.id,
        )
        request, error = await write(info, work, audit)
        return AppInstallPayload(
            installation=await _view(info, request.installation if request else None),
            authorization_url=request.authorization_url if request else None,
            app_url=request.app_url if request else None,
            errors=marketplace_errors(error),
        )

    @strawberry.mutation(extensions=INSTALL, description="The shop's settings for the app.")
    async def installation_configure(
        self, info: Info, id: strawberry.ID, settings: JSON
    ) -> InstallationPayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> InstallationRow:
            return await installs.configure_installation(
                session, shop.id, pk_of(id, "Installation", "id"), dict(settings or {})
            )

        row, error = await write(info, work, _audit(id))
        return InstallationPayload(
            installation=await _view(info, row), errors=marketplace_errors(error)
        )

    @strawberry.mutation(
        extensions=INSTALL,
        description="Remove the app: every token it holds for this shop stops working now.",
    )
    async def app_uninstall(self, info: Info, id: strawberry.ID) -> InstallationPayload | None:
        context = info.context
        shop = context.require_shop()
        denied: list[tuple[str, int]] = []

        async def work(session: AsyncSession) -> InstallationRow:
            row, revoked = await installs.uninstall(
                session, shop.id, pk_of(id, "Installation", "id"), context.now()
            )
            # Denied inside the transaction, before it commits: over-revoked at worst.
            for jti, expires_at in revoked:
                await context.services.tokens.denylist.revoke(jti, expires_at)
            denied.extend(revoked)
            return row

        row, error = await write(info, work, _audit(id))
        return InstallationPayload(
            installation=await _view(info, row), errors=marketplace_errors(error)
        )
