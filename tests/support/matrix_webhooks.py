"""Role-matrix rows for webhook subscriptions, deliveries and redelivery."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from app.events.models import DeliveryStatus, WebhookDelivery
from app.events.outbox import record_event
from app.events.routing import endpoint_key
from app.events.topics import Topic
from marketplace.webhook_models import WebhookSubscription
from tests.support.factories import World, gid
from tests.support.marketplace import make_app, make_partner

__all__ = ["WEBHOOK_ROWS"]

Request = tuple[str, dict[str, Any]]
Builder = Callable[[World], Awaitable[Request]]
DEVELOPERS = frozenset({"owner", "developer"})
OPS = frozenset({"ops"})
SCOPES = ("trade:read", "webhooks")


async def _app(world: World) -> int:
    partner, _ = await make_partner(world)
    app, _ = await make_app(world, partner, scopes=SCOPES)
    return app.id


async def _subscription(world: World) -> tuple[int, int]:
    app_id = await _app(world)
    async with world.services.db.writer() as session, session.begin():
        row = WebhookSubscription(
            app_id=app_id, topics=[Topic.ORDERS_CREATED.value], payload_version=2, created_by="t"
        )
        session.add(row)
        await session.flush()
        return app_id, row.id


async def _dead_delivery(world: World) -> int:
    app_id, subscription_id = await _subscription(world)
    now = datetime.now(UTC)
    async with world.services.db.writer() as session, session.begin():
        event = record_event(
            session, Topic.ORDERS_CREATED, world.shop.id, {"order_id": 1}, occurred_at=now
        )
        await session.flush()
        url = "https://app.example/hooks"
        delivery = WebhookDelivery(
            event_seq=event.seq,
            subscription_id=subscription_id,
            app_id=app_id,
            shop_id=world.shop.id,
            url=url,
            endpoint_key=endpoint_key(app_id, url),
            payload_version=2,
            status=DeliveryStatus.DEAD,
            attempt_count=3,
            next_attempt_at=now,
            give_up_at=now - timedelta(seconds=1),
            dead_at=now,
            last_error="HTTP 500",
        )
        session.add(delivery)
        await session.flush()
        return delivery.id


async def subscription_create(world: World) -> Request:
    query = "mutation($a: ID!) { webhookSubscriptionCreate(appId: $a, topics: [ORDERS_CREATED]) { errors { code } } }"
    return query, {"a": gid("App", await _app(world))}


async def subscription_delete(world: World) -> Request:
    _, subscription = await _subscription(world)
    query = "mutation($s: ID!) { webhookSubscriptionDelete(id: $s) { errors { code } } }"
    return query, {"s": gid("WebhookSubscription", subscription)}


async def secret_rotate(world: World) -> Request:
    query = (
        "mutation($a: ID!) { appWebhookSecretRotate(appId: $a) { webhookSecret errors { code } } }"
    )
    return query, {"a": gid("App", await _app(world))}


async def redeliver(world: World) -> Request:
    query = "mutation($d: ID!) { webhookRedeliver(deliveryId: $d) { errors { code } } }"
    return query, {"d": gid("WebhookDelivery", await _dead_delivery(world))}


async def deliveries(world: World) -> Request:
    await _dead_delivery(world)
    return "{ webhookDeliveries(status: DEAD, first: 5) { nodes { id status } } }", {}


async def app_deliveries(world: World) -> Request:
    app_id = await _app(world)
    query = "query($a: ID!) { app(appId: $a) { webhookDeliveries { nodes { id } } } }"
    return query, {"a": gid("App", app_id)}


WEBHOOK_ROWS: dict[str, tuple[frozenset[str] | None, Builder]] = {
    "Mutation.webhookSubscriptionCreate": (DEVELOPERS, subscription_create),
    "Mutation.webhookSubscriptionDelete": (DEVELOPERS, subscription_delete),
    "Mutation.appWebhookSecretRotate": (DEVELOPERS, secret_rotate),
    "Mutation.webhookRedeliver": (OPS, redeliver),
    "Query.webhookDeliveries": (OPS, deliveries),
    "App.webhookDeliveries": (DEVELOPERS, app_deliveries),
}
