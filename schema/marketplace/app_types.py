"""The App and AppVersion types: what a partner's developers see of an app."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from app.identity.models import Shop
from app.limits.policy import daily_key
from app.security.clients import OAuthClient
from marketplace.app_models import App as AppRow
from marketplace.app_models import AppVersion as VersionRow
from marketplace.quotas import APP_PREFIX
from schema.marketplace.webhook_types import (
    WebhookDelivery,
    WebhookDeliveryStatusEnum,
    WebhookSubscription,
    deliveries_page,
    developer_or_the_app,
    parent_app,
    subscriptions_of_app,
)
from schema.node import Node, encode_id
from schema.pagination import Connection

__all__ = ["App", "AppQuota", "AppVersion", "CostBucket", "Extension", "Manifest"]


@strawberry.type
class Extension:
    point: str
    url: str


@strawberry.type(description="Where a version of the app lives and listens.")
class Manifest:
    app_url: str
    webhook_url: str | None
    extensions: list[Extension]

    @classmethod
    def of(cls, manifest: dict[str, Any]) -> Manifest:
        return cls(
            app_url=manifest.get("app_url", ""),
            webhook_url=manifest.get("webhook_url"),
            extensions=[
                Extension(point=p, url=u)
                for p, u in sorted((manifest.get("extensions") or {}).items())
            ],
        )


@strawberry.type
class AppVersion(Node):
    version: str
    changelog: str
    manifest: Manifest
    rollout_percent: int
    created_at: datetime

    @classmethod
    def of(cls, row: VersionRow) -> AppVersion:
        return cls(
            id=encode_id("AppVersion", row.id),
            version=row.version,
            changelog=row.changelog,
            manifest=Manifest.of(row.manifest),
            rollout_percent=row.rollout_percent,
            created_at=row.created_at,
        )


@strawberry.type
class CostBucket:
    maximum_available: float
    currently_available: float
    restore_rate: float


@strawberry.type(description="The app's limits at its partner's tier, and what it used.")
class AppQuota:
    tier: str
    rate_per_second: float
    burst: float
    daily_limit: int | None
    used_today: int
    cost_bucket: CostBucket


@strawberry.type
class App(Node):
    name: str
    client_id: str
    scopes: list[str]
    redirect_uris: list[str]
    created_at: datetime
    pk: strawberry.Private[int]
    sandbox_pk: strawberry.Private[int | None]

    @classmethod
    def of(cls, row: AppRow, client: OAuthClient) -> App:
        return cls(
            id=encode_id("App", row.id),
            name=row.name,
            client_id=row.client_id,
            scopes=list(client.scopes),
            redirect_uris=list(client.redirect_uris),
            created_at=row.created_at,
            pk=row.id,
            sandbox_pk=row.sandbox_shop_id,
        )

    @strawberry.field(description="The sandbox shop's handle: demo data, test charges only.")
    async def sandbox_shop(self, info: Info) -> str | None:
        if self.sandbox_pk is None:
            return None
        async with info.context.db.reader() as session:
            return await session.scalar(select(Shop.handle).where(Shop.id == self.sandbox_pk))

    @strawberry.field(description="Newest first.")
    async def versions(self, info: Info) -> list[AppVersion]:
        async with info.context.db.reader() as session:
            rows = await session.scalars(
                select(VersionRow)
                .where(VersionRow.app_id == self.pk)
                .order_by(VersionRow.id.desc())
            )
            return [AppVersion.of(row) for row in rows]

    @strawberry.field(description="What the app is subscribed to.")
    async def webhook_subscriptions(self, info: Info) -> list[WebhookSubscription]:
        return await subscriptions_of_app(info, self.pk)

    @strawberry.field(
        extensions=developer_or_the_app("webhook_delivery", "read", parent_app),
        description="Deliveries to the app, newest first, each with every attempt's status "
        "code and latency (the app's developers).",
    )
    async def webhook_deliveries(
        self,
        info: Info,
        status: WebhookDeliveryStatusEnum | None = None,  # type: ignore[valid-type]
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[WebhookDelivery]:
        return await deliveries_page(info, app_id=self.pk, status=status, first=first, after=after)

    @strawberry.field
    async def quota(self, info: Info) -> AppQuota:
        context = info.context
        subject = f"{APP_PREFIX}{self.client_id}"
        limits = await context.services.rate_policy.limits_for(subject)
        buckets = context.services.buckets
        used = 0
        if limits.daily_calls is not None:
            left = await buckets.take(
                daily_key(subject, context.now()), 0, rate=0, burst=limits.daily_calls
            )
            used = int(limits.daily_calls - left.remaining)
        cost = await buckets.take(
            f"cost:{limits.tier}:{subject}", 0, rate=limits.cost_restore, burst=limits.cost_max
        )
        return AppQuota(
            tier=limits.tier,
            rate_per_second=limits.rate,
            burst=limits.burst,
            daily_limit=limits.daily_calls,
            used_today=used,
            cost_bucket=CostBucket(
                maximum_available=limits.cost_max,
                currently_available=cost.remaining,
                restore_rate=limits.cost_restore,
            ),
        )
