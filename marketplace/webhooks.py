"""Webhook subscriptions: who may subscribe an app to what, and where each event goes.

An app subscribes to topics; each topic needs a read scope (orders need ``trade:read`` and so
on) besides ``webhooks``. Through the app's own token the scopes are the ones the merchant
granted that installation; through the developer, the ones the app may ask for. Routing
checks again per installation, so a shop that granted less never receives more: an event in
a shop reaches a subscription only where the app is installed, active, and was granted the
topic's scope, at the webhook URL of the version the installation is assigned.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import SessionFactory
from app.errors import DomainError, Problem
from app.events.models import DeliveryStatus, OutboxEvent, WebhookDelivery
from app.events.ports import Route
from app.events.topics import Topic
from app.security.encryption import FieldCipher
from app.security.outbound import OutboundPolicy, UrlRefused
from marketplace.app_models import App, AppVersion, Installation, InstallationStatus
from marketplace.apps import app_by_id
from marketplace.errors import MarketplaceErrorCode
from marketplace.versions import version_for_bucket
from marketplace.webhook_models import WebhookSubscription
from marketplace.webhook_secrets import new_webhook_secret, open_webhook_secret

__all__ = [
    "LATEST_PAYLOAD_VERSION",
    "PAYLOAD_VERSIONS",
    "TOPIC_SCOPES",
    "SubscriptionRequest",
    "WebhookRouter",
    "create_subscription",
    "delete_subscription",
    "rotate_webhook_secret",
]

PAYLOAD_VERSIONS = (1, 2)
LATEST_PAYLOAD_VERSION = PAYLOAD_VERSIONS[-1]
WEBHOOKS_SCOPE = "webhooks"
TOPIC_SCOPES: dict[Topic, str | None] = {
    Topic.ORDERS_CREATED: "trade:read",
    Topic.ORDERS_PAID: "trade:read",
    Topic.ORDERS_CANCELLED: "trade:read",
    Topic.ORDERS_REFUNDED: "trade:read",
    Topic.SHIPMENTS_CREATED: "logistics:read",
    Topic.SHIPMENTS_UPDATED: "logistics:read",
    Topic.INVENTORY_BELOW_THRESHOLD: "goods:read",
    Topic.PRODUCTS_UPDATED: "goods:read",
    Topic.APPS_INSTALLED: None,
    Topic.APPS_UNINSTALLED: None,
}
# A write scope includes its read scope, as policy.csv has it.
_IMPLIED = {
    "trade:write": "trade:read",
    "logistics:write": "logistics:read",
    "goods:write": "goods:read",
}


def _covers(scopes: Sequence[str], topic: Topic) -> bool:
    held = set(scopes) | {_IMPLIED[s] for s in scopes if s in _IMPLIED}
    needed = TOPIC_SCOPES[topic]
    return WEBHOOKS_SCOPE in held and (needed is None or needed in held)


@dataclass(frozen=True, slots=True)
class SubscriptionRequest:
    app_id: int
    topics: Sequence[str]
    payload_version: int
    created_by: str
    # Set when the app's own token asks: the scopes of that installation.
    granted_scopes: Sequence[str] | None = None


async def _endpoint_problems(
    session: AsyncSession, app_id: int, outbound: OutboundPolicy
) -> list[Problem]:
    """The webhook URLs the app's serving versions declare must be callable: resolved now, so a
    name pointing inside the network is refused here too, not only at delivery."""
    urls = {
        version.manifest.get("webhook_url")
        for version in await session.scalars(
            select(AppVersion).where(AppVersion.app_id == app_id, AppVersion.rollout_percent > 0)
        )
        if isinstance((version.manifest or {}).get("webhook_url"), str)
    }
    problems = []
    for url in sorted(u for u in urls if u):
        try:
            await outbound.resolve_target(url)
        except UrlRefused as refused:
            problems.append(
                Problem(MarketplaceErrorCode.URL_REFUSED, f"{url}: {refused.reason}", ("appId",))
            )
    return problems


async def create_subscription(
    session: AsyncSession,
    request: SubscriptionRequest,
    app_scopes: Sequence[str],
    outbound: OutboundPolicy,
) -> WebhookSubscription:
    app = await session.scalar(select(App).where(App.id == request.app_id).with_for_update())
    if app is None:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such app.", "appId")
    scopes = request.granted_scopes if request.granted_scopes is not None else app_scopes
    problems: list[Problem] = []
    if not 1 <= len(request.topics) <= len(Topic):
        problems.append(
            Problem(MarketplaceErrorCode.INVALID, "Name 1 or more distinct topics.", ("topics",))
        )
    if request.payload_version not in PAYLOAD_VERSIONS:
        problems.append(
            Problem(
                MarketplaceErrorCode.INVALID,
                f"Payload versions are {', '.join(map(str, PAYLOAD_VERSIONS))}.",
                ("payloadVersion",),
            )
        )
    if app.webhook_secret is None:
        problems.append(
            Problem(
                MarketplaceErrorCode.WEBHOOK_SECRET_MISSING,
                "The app has no webhook secret yet: rotate one in with appWebhookSecretRotate.",
                ("appId",),
            )
        )
    taken = {
        topic
        for subscription in await session.scalars(
            select(WebhookSubscription).where(WebhookSubscription.app_id == app.id)
        )
        for topic in subscription.topics
    }
    for index, name in enumerate(request.topics):
        field = ("topics", str(index))
        try:
            topic = Topic(name)
        except ValueError:
            problems.append(Problem(MarketplaceErrorCode.INVALID, f"No topic {name!r}.", field))
            continue
        if not _covers(scopes, topic):
            needed = " and ".join(filter(None, (WEBHOOKS_SCOPE, TOPIC_SCOPES[topic])))
            problems.append(
                Problem(MarketplaceErrorCode.SCOPE_NOT_ALLOWED, f"{name} needs {needed}.", field)
            )
        if name in taken or list(request.topics).count(name) > 1:
            problems.append(
                Problem(MarketplaceErrorCode.DUPLICATE, f"The app already has {name}.", field)
            )
    problems += await _endpoint_problems(session, app.id, outbound)
    if problems:
        raise DomainError(problems)
    subscription = WebhookSubscription(
        app_id=app.id,
        topics=sorted(set(request.topics)),
        payload_version=request.payload_version,
        created_by=request.created_by,
    )
    session.add(subscription)
    await session.flush()
    return subscription


async def delete_subscription(session: AsyncSession, subscription_id: int) -> WebhookSubscription:
    """Deliveries not yet made for it are dropped with it; made ones stay in the history."""
    subscription = await session.get(WebhookSubscription, subscription_id)
    if subscription is None:
        raise DomainError.one(MarketplaceErrorCode.NOT_FOUND, "No such subscription.", "id")
    await session.execute(
        delete(WebhookDelivery).where(
            WebhookDelivery.subscription_id == subscription.id,
            WebhookDelivery.status == DeliveryStatus.PENDING,
        )
    )
    await session.delete(subscription)
    await session.flush()
    return subscription


async def rotate_webhook_secret(
    session: AsyncSession, cipher: FieldCipher, app_id: int
) -> tuple[App, str]:
    """A new secret, shown once. Deliveries sign with it from now on; one that fails while
    the app still expects the old one is retried with backoff, so nothing is lost."""
    app = await app_by_id(session, app_id)
    secret, app.webhook_secret = new_webhook_secret(cipher)
    await session.flush()
    return app, secret


class WebhookRouter:
    """The dispatcher's ``Router`` and ``SecretLookup``, over the marketplace's tables."""

    def __init__(self, reader: SessionFactory, cipher: FieldCipher) -> None:
        self._reader = reader
        self._cipher = cipher

    async def secrets_of(self, app_ids: Sequence[int]) -> Mapping[int, bytes]:
        async with self._reader() as session:
            rows = await session.execute(
                select(App.id, App.webhook_secret).where(App.id.in_(list(app_ids)))
            )
            return {
                app_id: open_webhook_secret(self._cipher, sealed)
                for app_id, sealed in rows
                if sealed is not None
            }

    async def route(
        self, session: AsyncSession, events: Sequence[OutboxEvent]
    ) -> Mapping[int, Sequence[Route]]:
        shops = {event.shop_id for event in events if event.shop_id is not None}
        if not shops:
            return {}
        # An uninstall is told to the app it concerns, though that installation just ended.
        ended = {
            int(event.payload["installation_id"])
            for event in events
            if event.topic == Topic.APPS_UNINSTALLED
        }
        rows = (
            await session.execute(
                select(WebhookSubscription, Installation)
                .join(Installation, Installation.app_id == WebhookSubscription.app_id)
                .join(App, App.id == Installation.app_id)
                .where(
                    Installation.shop_id.in_(shops),
                    or_(
                        Installation.status == InstallationStatus.ACTIVE,
                        Installation.id.in_(ended),
                    ),
                )
            )
        ).all()
        if not rows:
            return {}
        versions: dict[int, list[AppVersion]] = defaultdict(list)
        for version in await session.scalars(
            select(AppVersion).where(AppVersion.app_id.in_({s.app_id for s, _ in rows}))
        ):
            versions[version.app_id].append(version)
        routes: dict[int, list[Route]] = defaultdict(list)
        for event in events:
            topic = Topic(event.topic)
            for subscription, installation in rows:
                if installation.shop_id != event.shop_id or event.topic not in subscription.topics:
                    continue
                if topic is Topic.APPS_UNINSTALLED:
                    if installation.id != event.payload["installation_id"]:
                        continue
                elif installation.status is not InstallationStatus.ACTIVE or not _covers(
                    installation.granted_scopes, topic
                ):
                    continue
                url = _webhook_url(versions[installation.app_id], installation.bucket)
                if url is None:
                    continue
                routes[event.seq].append(
                    Route(subscription.id, installation.app_id, url, subscription.payload_version)
                )
        return routes


def _webhook_url(versions: Sequence[AppVersion], bucket: int) -> str | None:
    version = version_for_bucket(versions, bucket)
    url = (version.manifest or {}).get("webhook_url") if version is not None else None
    return url if isinstance(url, str) and url else None
