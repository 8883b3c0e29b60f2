"""Webhook subscribers and dispatchers for the outbox tests, made straight through the services.

A ``Subscriber`` is an app installed (ACTIVE, with granted scopes) in a world's shop, whose
version manifest points its ``webhook_url`` at a receiver, subscribed to some topics. A test
then records events in the shop and drives a ``Dispatcher`` by hand, built with a delivery
policy and a clock of its own choosing (``Dispatchers``).
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select, update

from app.compose_events import event_services
from app.events.dispatcher import Dispatcher
from app.events.models import (
    DeliveryAttempt,
    DeliveryStatus,
    EndpointCircuit,
    OutboxEvent,
    WebhookDelivery,
)
from app.events.outbox import record_event
from app.events.policy import DeliveryPolicy
from app.events.routing import endpoint_key
from app.events.services import EventServices
from app.events.topics import Topic
from app.security.outbound import OutboundPolicy
from marketplace.app_models import AppVersion, Installation, InstallationStatus
from marketplace.models import Tier
from marketplace.versions import create_version
from marketplace.webhooks import SubscriptionRequest, create_subscription
from tests.support.factories import World
from tests.support.marketplace import make_app, make_partner

__all__ = [
    "LOOPBACK",
    "Dispatchers",
    "StepClock",
    "Subscriber",
    "add_version",
    "attempts_of",
    "circuit_of",
    "deliveries_of",
    "dispatching",
    "quick_policy",
    "record",
    "set_aside_outbox",
    "subscribe",
]

# Dev and test: the receiver on 127.0.0.1 may be called.
LOOPBACK = OutboundPolicy(allow_loopback=True)
APP_SCOPES = ("goods:read", "trade:read", "logistics:read", "webhooks")


class StepClock:
    """A clock that stands still until the test moves it: backoff, leases and cooldowns are
    then exact, whatever the machine's speed."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime.now(UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += timedelta(seconds=seconds)


@dataclass(frozen=True)
class Subscriber:
    app_id: int
    webhook_secret: str
    installation_id: int
    subscription_id: int
    url: str

    @property
    def endpoint_key(self) -> str:
        return endpoint_key(self.app_id, self.url)


async def subscribe(
    world: World,
    url: str,
    *,
    topics: Sequence[Topic] = (Topic.ORDERS_CREATED,),
    payload_version: int = 2,
    granted: Sequence[str] = ("trade:read", "webhooks"),
    status: InstallationStatus = InstallationStatus.ACTIVE,
    bucket: int = 0,
    tier: Tier = Tier.STANDARD,
    outbound: OutboundPolicy = LOOPBACK,
) -> Subscriber:
    """An app of a new partner, version 1.0.0 sending webhooks to ``url``, installed in the
    world's shop with ``granted`` scopes, and subscribed to ``topics``; ``outbound`` judges the
    URL when the version and the subscription are made."""
    partner_id, _ = await make_partner(world, tier=tier)
    app, secrets = await make_app(world, partner_id, scopes=APP_SCOPES)
    services = world.services
    async with services.db.writer() as session, session.begin():
        await create_version(
            session,
            app.id,
            "1.0.0",
            "",
            {"app_url": "https://app.example", "webhook_url": url},
            outbound=outbound,
        )
        installation = Installation(
            app_id=app.id,
            shop_id=world.shop.id,
            status=status,
            bucket=bucket,
            granted_scopes=sorted(granted),
            requested_by="test",
            activated_at=datetime.now(UTC),
        )
        session.add(installation)
        subscription = await create_subscription(
            session,
            SubscriptionRequest(app.id, [topic.value for topic in topics], payload_version, "test"),
            APP_SCOPES,
            outbound,
        )
        await session.flush()
        return Subscriber(app.id, secrets.webhook_secret, installation.id, subscription.id, url)


async def add_version(
    world: World, app_id: int, version: str, url: str, *, rollout: int
) -> AppVersion:
    async with world.services.db.writer() as session, session.begin():
        row = await create_version(
            session,
            app_id,
            version,
            "",
            {"app_url": "https://app.example", "webhook_url": url},
            outbound=LOOPBACK,
        )
        row.rollout_percent = rollout
    return row


async def record(
    world: World,
    payload: dict[str, Any],
    *,
    topic: Topic = Topic.ORDERS_CREATED,
    at: datetime | None = None,
    shop_id: int | None = None,
) -> OutboxEvent:
    """One committed event in the world's shop (or in ``shop_id``)."""
    async with world.services.db.writer() as session, session.begin():
        return record_event(
            session,
            topic,
            world.shop.id if shop_id is None else shop_id,
            payload,
            occurred_at=at or datetime.now(UTC),
        )


async def set_aside_outbox(world: World) -> None:
    """The suite shares one database: events and deliveries other tests left behind are set
    aside (marked routed, dead), so that what a dispatcher round does here is this test's."""
    now = datetime.now(UTC)
    async with world.services.db.writer() as session, session.begin():
        await session.execute(
            update(OutboxEvent).where(OutboxEvent.routed_at.is_(None)).values(routed_at=now)
        )
        await session.execute(
            update(WebhookDelivery)
            .where(WebhookDelivery.status == DeliveryStatus.PENDING)
            .values(
                status=DeliveryStatus.DEAD,
                dead_at=now,
                lease_until=None,
                lease_token=None,
                last_error="set aside by a test",
            )
        )


async def deliveries_of(world: World, subscriber: Subscriber) -> list[WebhookDelivery]:
    async with world.services.db.reader() as session:
        return list(
            await session.scalars(
                select(WebhookDelivery)
                .where(WebhookDelivery.subscription_id == subscriber.subscription_id)
                .order_by(WebhookDelivery.id)
            )
        )


async def attempts_of(world: World, delivery_id: int) -> list[DeliveryAttempt]:
    async with world.services.db.reader() as session:
        return list(
            await session.scalars(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.delivery_id == delivery_id)
                .order_by(DeliveryAttempt.id)
            )
        )


async def circuit_of(world: World, subscriber: Subscriber) -> EndpointCircuit | None:
    async with world.services.db.reader() as session:
        return await session.get(EndpointCircuit, subscriber.endpoint_key)


def quick_policy(**changes: Any) -> DeliveryPolicy:
    """The default policy with a short timeout and the jitter pinned to 0: after the n-th
    failure in a row the wait is exactly half its step, ``backoff_base * 2**(n-1) / 2``."""
    values: dict[str, Any] = {"timeout_seconds": 2.0, "jitter": lambda: 0.0}
    values.update(changes)
    return DeliveryPolicy(**values)


@dataclass
class Dispatchers:
    """Builds dispatchers over the test app's database, each with its own outbound client and
    the test's clock, and closes them all at the end."""

    world: World
    clock: StepClock
    made: list[EventServices] = field(default_factory=list)

    def services(
        self, policy: DeliveryPolicy | None = None, *, outbound: OutboundPolicy = LOOPBACK
    ) -> EventServices:
        services = self.world.services
        events = event_services(
            services.settings,
            services.db,
            services.cipher,
            self.clock,
            policy=policy or quick_policy(),
            outbound=outbound,
        )
        self.made.append(events)
        return events

    def __call__(
        self, policy: DeliveryPolicy | None = None, *, outbound: OutboundPolicy = LOOPBACK
    ) -> Dispatcher:
        return self.services(policy, outbound=outbound).dispatcher

    async def close(self) -> None:
        for events in self.made:
            await events.close()


@contextlib.asynccontextmanager
async def dispatching(world: World, clock: StepClock) -> AsyncIterator[Dispatchers]:
    """Dispatchers for one test, after the outbox has been set aside for it."""
    await set_aside_outbox(world)
    made = Dispatchers(world, clock)
    try:
        yield made
    finally:
        await made.close()
