"""Webhook subscriptions, deliveries and attempts as GraphQL types, and who may act on them.

Deliveries are listed a page at a time with their events and attempts read in bulk, so a page
of 100 costs the same statements as a page of 1.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import Any

import strawberry
from sqlalchemy import select
from strawberry.permission import BasePermission, PermissionExtension
from strawberry.types import Info

from app.events.models import DeliveryAttempt as AttemptRow
from app.events.models import DeliveryStatus, OutboxEvent
from app.events.models import WebhookDelivery as DeliveryRow
from app.events.reads import DELIVERY_ORDER, attempts_of, delivery_query, events_of
from app.events.topics import Topic
from app.pagination import fetch_page
from app.security.rbac import partner_domain, shop_domain
from marketplace.app_models import App as AppRow
from marketplace.webhook_models import WebhookSubscription as SubscriptionRow
from schema.auditing import record_denial
from schema.errors import ApiErrorCode
from schema.node import Node, encode_id, parse_id
from schema.pagination import Connection, connection, page_request
from schema.permissions import NO_PARTNER

__all__ = [
    "AppOfRequest",
    "DeveloperOrTheApp",
    "WebhookDelivery",
    "WebhookDeliveryStatusEnum",
    "WebhookSubscription",
    "WebhookTopicEnum",
    "deliveries_page",
]

WebhookTopicEnum = strawberry.enum(
    Topic,
    name="WebhookTopic",
    description="What happened; the X-Agora-Topic header carries "
    "the lower-case form (orders/created).",
)
WebhookDeliveryStatusEnum = strawberry.enum(DeliveryStatus, name="WebhookDeliveryStatus")


@strawberry.type
class WebhookSubscription(Node):
    topics: list[WebhookTopicEnum]  # type: ignore[valid-type]
    payload_version: int
    created_by: str
    created_at: datetime

    @classmethod
    def of(cls, row: SubscriptionRow) -> WebhookSubscription:
        return cls(
            id=encode_id("WebhookSubscription", row.id),
            topics=[Topic(t) for t in row.topics],
            payload_version=row.payload_version,
            created_by=row.created_by,
            created_at=row.created_at,
        )


@strawberry.type(description="One try: the HTTP status (null when no answer came) and latency.")
class WebhookAttempt:
    attempted_at: datetime
    status_code: int | None
    latency_ms: int
    error: str

    @classmethod
    def of(cls, row: AttemptRow) -> WebhookAttempt:
        return cls(
            attempted_at=row.attempted_at,
            status_code=row.status_code,
            latency_ms=row.latency_ms,
            error=row.error,
        )


@strawberry.type(description="An event on its way to one app endpoint, with every attempt.")
class WebhookDelivery(Node):
    event_id: str
    topic: WebhookTopicEnum  # type: ignore[valid-type]
    shop_id: strawberry.ID | None
    url: str
    payload_version: int
    status: WebhookDeliveryStatusEnum  # type: ignore[valid-type]
    attempt_count: int
    next_attempt_at: datetime | None
    delivered_at: datetime | None
    dead_at: datetime | None
    last_error: str
    created_at: datetime
    attempts: list[WebhookAttempt]

    @classmethod
    def of(
        cls, row: DeliveryRow, event: OutboxEvent, attempts: list[AttemptRow]
    ) -> WebhookDelivery:
        return cls(
            id=encode_id("WebhookDelivery", row.id),
            event_id=event.id,
            topic=Topic(event.topic),
            shop_id=encode_id("Shop", row.shop_id) if row.shop_id is not None else None,
            url=row.url,
            payload_version=row.payload_version,
            status=row.status,
            attempt_count=row.attempt_count,
            next_attempt_at=row.next_attempt_at if row.status is DeliveryStatus.PENDING else None,
            delivered_at=row.delivered_at,
            dead_at=row.dead_at,
            last_error=row.last_error,
            created_at=row.created_at,
            attempts=[WebhookAttempt.of(a) for a in attempts],
        )


async def deliveries_page(
    info: Info,
    *,
    app_id: int | None,
    status: DeliveryStatus | None,
    first: int | None,
    after: str | None,
) -> Connection[WebhookDelivery]:
    codec = info.context.services.cursors
    request = page_request(codec, DELIVERY_ORDER, first=first, after=after, last=None, before=None)
    async with info.context.db.reader() as session:
        page = await fetch_page(
            session, delivery_query(app_id=app_id, status=status), DELIVERY_ORDER, request
        )
        events = await events_of(session, (row.event_seq for row in page.rows))
        attempts = await attempts_of(session, (row.id for row in page.rows))
    return connection(
        codec,
        DELIVERY_ORDER,
        page,
        lambda row: WebhookDelivery.of(row, events[row.event_seq], attempts.get(row.id, [])),
    )


AppOfRequest = Callable[[Any, Info, dict[str, Any]], Awaitable[AppRow | None]]
"""The app a call concerns, from its parent object or its arguments."""


class DeveloperOrTheApp(BasePermission):
    """The app's partner developers, or the app itself.

    A user is checked in the app's partner domain. The app's own install token is checked in
    the shop it was granted, where its scopes are its roles (``webhooks`` allows managing its
    subscriptions); another app's token is checked like a user with no role and refused.
    """

    message = "You are not allowed to do this."
    error_extensions = {"code": ApiErrorCode.FORBIDDEN.value}

    def __init__(self, obj: str, act: str, app_of: AppOfRequest) -> None:
        self.obj = obj
        self.act = act
        self.app_of = app_of

    async def has_permission(self, source: Any, info: Info, **kwargs: Any) -> bool:
        context = info.context
        app = await self.app_of(source, info, kwargs)
        principal = context.principal
        # Audit records of these calls belong to the app's partner, whoever made them.
        context.partner_id = app.partner_id if app is not None else None
        if (
            app is not None
            and principal is not None
            and principal.subject == f"app:{app.client_id}"
            and principal.shop_id is not None
        ):
            domain = shop_domain(principal.shop_id)
        else:
            domain = partner_domain(app.partner_id) if app is not None else NO_PARTNER
        if await context.allows(self.obj, self.act, domain):
            return True
        await record_denial(info, domain)
        return False


def developer_or_the_app(obj: str, act: str, app_of: AppOfRequest) -> list[Any]:
    return [
        PermissionExtension(permissions=[DeveloperOrTheApp(obj, act, app_of)], use_directives=False)
    ]


async def _app(info: Info, key: int | None) -> AppRow | None:
    if key is None:
        return None
    async with info.context.db.reader() as session:
        return await session.get(AppRow, key)


def app_argument(argument: str = "app_id") -> AppOfRequest:
    async def resolve(_: Any, info: Info, kwargs: dict[str, Any]) -> AppRow | None:
        parsed = parse_id(str(kwargs.get(argument)))
        return await _app(info, parsed[1] if parsed and parsed[0] == "App" else None)

    return resolve


def app_of_subscription(argument: str = "id") -> AppOfRequest:
    async def resolve(_: Any, info: Info, kwargs: dict[str, Any]) -> AppRow | None:
        parsed = parse_id(str(kwargs.get(argument)))
        if parsed is None or parsed[0] != "WebhookSubscription":
            return None
        async with info.context.db.reader() as session:
            return await session.scalar(
                select(AppRow)
                .join(SubscriptionRow, SubscriptionRow.app_id == AppRow.id)
                .where(SubscriptionRow.id == parsed[1])
            )

    return resolve


async def parent_app(source: Any, info: Info, _: dict[str, Any]) -> AppRow | None:
    """For fields of the App type: the app is the parent object."""
    return await _app(info, getattr(source, "pk", None))


async def subscriptions_of_app(info: Info, app_pk: int) -> list[WebhookSubscription]:
    async with info.context.db.reader() as session:
        rows = await session.scalars(
            select(SubscriptionRow)
            .where(SubscriptionRow.app_id == app_pk)
            .order_by(SubscriptionRow.id)
        )
        return [WebhookSubscription.of(row) for row in rows]
