"""Routing: each new outbox event becomes one delivery per subscriber, exactly once.

Events are claimed with ``FOR UPDATE SKIP LOCKED`` (ignored by SQLite, where the single
writer serialises dispatchers anyway) and marked routed in the same transaction that creates
their deliveries, so two dispatchers never route the same event and a crash in between
leaves the event unrouted rather than half-routed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import datetime

from sqlalchemy import insert, select, update

from app.db import Database
from app.events.models import DeliveryStatus, OutboxEvent, WebhookDelivery
from app.events.policy import DeliveryPolicy
from app.events.ports import Router

__all__ = ["endpoint_key", "route_pending"]


def endpoint_key(app_id: int, url: str) -> str:
    """The circuit an (app, URL) pair shares: an app's endpoint fails or recovers as one."""
    return hashlib.sha256(f"{app_id}\n{url}".encode()).hexdigest()[:32]


async def route_pending(
    db: Database, router: Router, clock: Callable[[], datetime], policy: DeliveryPolicy
) -> int:
    """Route one batch; the number of events routed (0 when none was waiting)."""
    async with db.writer() as session, session.begin():
        events = list(
            await session.scalars(
                select(OutboxEvent)
                .where(OutboxEvent.routed_at.is_(None))
                .order_by(OutboxEvent.seq)
                .limit(policy.batch_size)
                .with_for_update(skip_locked=True)
            )
        )
        if not events:
            return 0
        routes = await router(session, events)
        now = clock()
        rows = [
            {
                "event_seq": event.seq,
                "subscription_id": route.subscription_id,
                "app_id": route.app_id,
                "shop_id": event.shop_id,
                "url": route.url,
                "endpoint_key": endpoint_key(route.app_id, route.url),
                "payload_version": route.payload_version,
                "status": DeliveryStatus.PENDING,
                "attempt_count": 0,
                "next_attempt_at": now,
                "give_up_at": now + policy.retry_window,
                "last_error": "",
                "created_at": now,
            }
            for event in events
            for route in routes.get(event.seq, ())
        ]
        if rows:
            await session.execute(insert(WebhookDelivery), rows)
        await session.execute(
            update(OutboxEvent)
            .where(OutboxEvent.seq.in_([event.seq for event in events]))
            .values(routed_at=now)
        )
        return len(events)
