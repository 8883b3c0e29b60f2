"""Building the outbox dispatcher and its collaborators, for ``agora serve`` and ``agora worker``.

The dispatcher sits below the domains, so what it needs from above is plugged in here: the
marketplace routes events to subscriptions and knows the apps' webhook secrets, and the
GraphQL adapter renders payloads the way the API shows the same objects.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from app.config import Settings
from app.db import Database
from app.events.delivery import WebhookSender
from app.events.dispatcher import Dispatcher
from app.events.policy import DeliveryPolicy
from app.events.services import EventServices
from app.security.encryption import FieldCipher
from app.security.outbound import OutboundPolicy
from app.security.outbound_client import OutboundClient
from marketplace.webhooks import WebhookRouter
from schema.webhook_payloads import render_payload

__all__ = ["delivery_policy", "event_services"]


def delivery_policy(settings: Settings) -> DeliveryPolicy:
    return DeliveryPolicy(
        timeout_seconds=settings.webhook_timeout_seconds,
        backoff_base=timedelta(seconds=settings.webhook_backoff_base_seconds),
        backoff_cap=timedelta(seconds=settings.webhook_backoff_cap_seconds),
        retry_window=timedelta(seconds=settings.webhook_retry_window_seconds),
        breaker_failures=settings.webhook_breaker_failures,
        breaker_cooldown=timedelta(seconds=settings.webhook_breaker_cooldown_seconds),
        lease=timedelta(seconds=max(60.0, 4 * settings.webhook_timeout_seconds)),
    )


def event_services(
    settings: Settings,
    db: Database,
    cipher: FieldCipher,
    clock: Callable[[], datetime],
    *,
    policy: DeliveryPolicy | None = None,
    outbound: OutboundPolicy | None = None,
) -> EventServices:
    policy = policy or delivery_policy(settings)
    outbound = outbound or OutboundPolicy.for_environment(settings.environment)
    client = OutboundClient(outbound)
    router = WebhookRouter(db.reader, cipher)
    sender = WebhookSender(client, router.secrets_of, render_payload, clock, policy)
    dispatcher = Dispatcher(db, router.route, sender, policy, clock)
    return EventServices(dispatcher=dispatcher, policy=policy, outbound=outbound, client=client)
