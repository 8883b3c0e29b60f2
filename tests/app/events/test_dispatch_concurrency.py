"""Two dispatchers at once on PostgreSQL: routing and claiming skip what the other has locked,
so 1,000 events are all delivered, none lost, none sent twice (let alone at the same time).
SQLite runs one dispatcher (its single writer serialises them anyway), so this runs on
PostgreSQL only: CI runs the suite there too."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections import defaultdict
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from app.events.models import DeliveryStatus, WebhookDelivery
from app.events.outbox import record_event
from app.events.topics import Topic
from tests.app.events.harness import Dispatchers, quick_policy, subscribe
from tests.support.factories import World
from tests.support.receiver import Receiver

pytestmark = pytest.mark.anyio

ON_POSTGRES = os.environ.get("AGORA_DATABASE_URL", "").startswith("postgresql")
EVENTS = 1000


if ON_POSTGRES:

    async def test_two_dispatchers_deliver_a_thousand_events_once_each(
        world: World, receiver: Receiver, dispatchers: Dispatchers
    ) -> None:
        # Two apps, so each batch has two endpoints and both circuits are locked by both.
        created = await subscribe(world, receiver.endpoint("/created"))
        paid = await subscribe(world, receiver.endpoint("/paid"), topics=[Topic.ORDERS_PAID])
        now = datetime.now(UTC)
        async with world.services.db.writer() as session, session.begin():
            ids = [
                record_event(
                    session,
                    Topic.ORDERS_CREATED if n % 2 else Topic.ORDERS_PAID,
                    world.shop.id,
                    {"order_id": n},
                    occurred_at=now,
                ).id
                for n in range(EVENTS)
            ]
        policy = quick_policy(batch_size=50)
        first, second = dispatchers(policy), dispatchers(policy)

        totals = [0, 0]
        async with asyncio.timeout(60):
            for _ in range(20):
                reports = await asyncio.gather(first.run_once(), second.run_once())
                for index, report in enumerate(reports):
                    totals[index] += report.delivered
                if all(report.idle for report in reports):
                    break

        assert sum(totals) == EVENTS
        assert all(totals), totals  # both took part
        assert set(receiver.processed) == set(ids)  # none lost
        assert receiver.duplicates == {}  # none sent twice
        assert len(receiver.requests) == EVENTS
        by_event = defaultdict(list)
        for request in receiver.requests:
            by_event[request.headers["x-agora-event-id"]].append(request)
        for requests in by_event.values():  # and so never twice at the same time
            spans = sorted((r.started, r.finished) for r in requests)
            assert all(a[1] <= b[0] for a, b in itertools.pairwise(spans))
        assert {r.path for r in receiver.requests} == {"/created", "/paid"}
        async with world.services.db.reader() as session:
            states = dict(
                (
                    await session.execute(
                        select(WebhookDelivery.status, func.count())
                        .where(
                            WebhookDelivery.subscription_id.in_(
                                [created.subscription_id, paid.subscription_id]
                            )
                        )
                        .group_by(WebhookDelivery.status)
                    )
                ).all()
            )
        assert states == {DeliveryStatus.DELIVERED: EVENTS}
