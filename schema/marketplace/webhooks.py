"""Webhooks through GraphQL: subscribing an app, its webhook secret, the deliveries, and the
dead-letter redelivery ops performs."""

from __future__ import annotations

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.errors import DomainError
from app.events.errors import EventErrorCode
from app.events.models import WebhookDelivery as DeliveryRow
from app.events.reads import attempts_of, events_of
from app.events.redelivery import redeliver
from app.security.clients import OAuthClient
from marketplace import webhooks as webhook_service
from marketplace.app_models import App as AppRow
from marketplace.app_models import Installation
from marketplace.errors import MarketplaceErrorCode
from marketplace.webhook_models import WebhookSubscription as SubscriptionRow
from schema.auditing import Audit, row_state
from schema.errors import UserError, user_errors
from schema.marketplace.common import MarketplaceError, marketplace_errors, pk_of
from schema.marketplace.webhook_types import (
    WebhookDelivery,
    WebhookDeliveryStatusEnum,
    WebhookSubscription,
    WebhookTopicEnum,
    app_argument,
    app_of_subscription,
    deliveries_page,
    developer_or_the_app,
)
from schema.node import parse_id
from schema.pagination import Connection
from schema.permissions import requires
from schema.transactions import write

__all__ = ["WebhookMutation", "WebhookQuery"]

APP_STATE = row_state(AppRow)
SUBSCRIPTION_STATE = row_state(SubscriptionRow)
DELIVERY_STATE = row_state(DeliveryRow)
EventErrorCodeEnum = strawberry.enum(EventErrorCode, name="EventErrorCode")


@strawberry.type
class EventError(UserError):
    code: EventErrorCodeEnum  # type: ignore[valid-type]


@strawberry.type
class WebhookSubscriptionPayload:
    subscription: WebhookSubscription | None
    errors: list[MarketplaceError]


@strawberry.type
class WebhookSubscriptionDeletePayload:
    deleted_id: strawberry.ID | None
    errors: list[MarketplaceError]


@strawberry.type
class WebhookSecretPayload:
    webhook_secret: str | None = strawberry.field(description="Shown once.")
    errors: list[MarketplaceError]


@strawberry.type
class WebhookRedeliverPayload:
    delivery: WebhookDelivery | None
    errors: list[EventError]


async def _granted_scopes(session: AsyncSession, info: Info, app: AppRow) -> list[str] | None:
    """With the app's own install token: what its installation in that shop was granted."""
    principal = info.context.principal
    if principal is None or principal.subject != f"app:{app.client_id}":
        return None
    scopes = await session.scalar(
        select(Installation.granted_scopes)
        .where(Installation.app_id == app.id, Installation.shop_id == principal.shop_id)
        .order_by(Installation.id.desc())
        .limit(1)
    )
    return list(scopes or [])


def _delivery_pk(delivery: WebhookDelivery) -> int:
    parsed = parse_id(str(delivery.id))
    assert parsed is not None
    return parsed[1]


@strawberry.type
class WebhookMutation:
    @strawberry.mutation(
        extensions=developer_or_the_app("webhook_subscription", "write", app_argument()),
        description="Subscribe the app to topics (its developers, or the app's own install "
        "token with the webhooks scope). Each topic needs its read scope (orders: trade:read, "
        "shipments: logistics:read, inventory and products: goods:read); events go to the "
        "webhook URL of the version each installation is assigned.",
    )
    async def webhook_subscription_create(
        self,
        info: Info,
        app_id: strawberry.ID,
        topics: list[WebhookTopicEnum],  # type: ignore[valid-type]
        payload_version: int = webhook_service.LATEST_PAYLOAD_VERSION,
    ) -> WebhookSubscriptionPayload | None:
        context = info.context
        principal = context.principal
        outbound = context.services.events.outbound

        async def work(session: AsyncSession) -> SubscriptionRow:
            app = await session.get(AppRow, pk_of(app_id, "App", "appId"))
            if app is None:
                raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such app.", "appId")
            client = await session.scalar(
                select(OAuthClient).where(OAuthClient.client_id == app.client_id)
            )
            request = webhook_service.SubscriptionRequest(
                app_id=app.id,
                topics=[topic.value for topic in topics],
                payload_version=payload_version,
                created_by=principal.subject if principal else "",
                granted_scopes=await _granted_scopes(session, info, app),
            )
            return await webhook_service.create_subscription(
                session, request, list(client.scopes) if client else [], outbound
            )

        audit = Audit(
            "WebhookSubscription", SUBSCRIPTION_STATE, target=lambda row: row.id, domain="partner"
        )
        row, error = await write(info, work, audit)
        return WebhookSubscriptionPayload(
            subscription=WebhookSubscription.of(row) if row else None,
            errors=marketplace_errors(error),
        )

    @strawberry.mutation(
        extensions=developer_or_the_app("webhook_subscription", "write", app_of_subscription()),
        description="Stop a subscription; its deliveries not yet made are dropped.",
    )
    async def webhook_subscription_delete(
        self, info: Info, id: strawberry.ID
    ) -> WebhookSubscriptionDeletePayload | None:
        async def work(session: AsyncSession) -> SubscriptionRow:
            return await webhook_service.delete_subscription(
                session, pk_of(id, "WebhookSubscription", "id")
            )

        audit = Audit(
            "WebhookSubscription", SUBSCRIPTION_STATE, target=lambda row: row.id, domain="partner"
        )
        row, error = await write(info, work, audit)
        return WebhookSubscriptionDeletePayload(
            deleted_id=id if row else None, errors=marketplace_errors(error)
        )

    @strawberry.mutation(
        extensions=developer_or_the_app("app_credential", "write", app_argument()),
        description="A new webhook secret, shown once; deliveries sign with it from now on "
        "(one that fails while the app still checks the old secret is retried).",
    )
    async def app_webhook_secret_rotate(
        self, info: Info, app_id: strawberry.ID
    ) -> WebhookSecretPayload | None:
        cipher = info.context.services.marketplace.field_cipher

        async def work(session: AsyncSession) -> tuple[AppRow, str]:
            return await webhook_service.rotate_webhook_secret(
                session, cipher, pk_of(app_id, "App", "appId")
            )

        audit = Audit("App", APP_STATE, target=lambda found: found[0].id, domain="partner")
        result, error = await write(info, work, audit)
        return WebhookSecretPayload(
            webhook_secret=result[1] if result else None, errors=marketplace_errors(error)
        )

    @strawberry.mutation(
        extensions=requires("webhook_delivery", "redeliver", domain="platform"),
        description="Send a dead-lettered delivery again, with a fresh retry window (ops).",
    )
    async def webhook_redeliver(
        self, info: Info, delivery_id: strawberry.ID
    ) -> WebhookRedeliverPayload | None:
        context = info.context
        events = context.services.events

        async def work(session: AsyncSession) -> WebhookDelivery:
            parsed = parse_id(str(delivery_id))
            if parsed is None or parsed[0] != "WebhookDelivery":
                raise DomainError.one(EventErrorCode.NOT_FOUND, "No such delivery.", "deliveryId")
            row = await redeliver(session, parsed[1], context.now(), events.policy)
            event = (await events_of(session, [row.event_seq]))[row.event_seq]
            attempts = (await attempts_of(session, [row.id])).get(row.id, [])
            return WebhookDelivery.of(row, event, attempts)

        audit = Audit("WebhookDelivery", DELIVERY_STATE, target=_delivery_pk, domain="platform")
        delivery, error = await write(info, work, audit)
        errors = user_errors(error, EventError, EventErrorCodeEnum) if error else []
        return WebhookRedeliverPayload(delivery=delivery, errors=errors)


@strawberry.type
class WebhookQuery:
    @strawberry.field(
        extensions=requires("webhook_delivery", "read", domain="platform"),
        description="Every app's deliveries, newest first (ops): filter by status DEAD to "
        "find what to redeliver.",
    )
    async def webhook_deliveries(
        self,
        info: Info,
        status: WebhookDeliveryStatusEnum | None = None,  # type: ignore[valid-type]
        app_id: strawberry.ID | None = None,
        first: int | None = None,
        after: str | None = None,
    ) -> Connection[WebhookDelivery]:
        parsed = parse_id(str(app_id)) if app_id is not None else None
        return await deliveries_page(
            info,
            app_id=parsed[1] if parsed and parsed[0] == "App" else (None if app_id is None else 0),
            status=status,
            first=first,
            after=after,
        )
