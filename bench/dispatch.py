"""Webhook dispatch throughput: events delivered per second by the outbox dispatcher to a local
receiver, against a plain httpx client loop posting the same bodies to the same receiver.

Both run in the same process and the same run, on a throwaway SQLite database: the baseline is
the floor the HTTP round trip alone sets, and the ratio shows what the dispatcher adds on top
(routing, claiming with leases, signing, recording every attempt, circuit bookkeeping).
Medians over several rounds; absolute figures on a shared machine mean little.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from app.events.models import DeliveryStatus, WebhookDelivery
from app.events.outbox import record_event
from app.events.topics import Topic
from app.main import create_app
from app.migrate import sync_policy, upgrade
from app.security.outbound import OutboundPolicy
from bench.settings import bench_settings
from marketplace.app_models import Installation, InstallationStatus
from marketplace.versions import create_version
from marketplace.webhooks import SubscriptionRequest, create_subscription
from schema.webhook_payloads import render_payload
from tests.support.factories import World, make_world
from tests.support.marketplace import make_app, make_partner
from tests.support.receiver import Receiver, running_receiver

EVENTS = 1000
ROUNDS = 5
SCOPES = ("trade:read", "webhooks")
LOOPBACK = OutboundPolicy(allow_loopback=True)


def _payload(n: int) -> dict[str, Any]:
    return {
        "order_id": n,
        "name": f"#{1000 + n}",
        "total": {"amount": 2490 + n, "currency": "EUR"},
        "line_ids": [n, n + 1],
    }


async def _subscribe(world: World, url: str) -> int:
    """An app installed in the world's shop, subscribed to orders/created at ``url``."""
    partner_id, _ = await make_partner(world)
    app, _ = await make_app(world, partner_id, scopes=SCOPES)
    async with world.services.db.writer() as session, session.begin():
        await create_version(
            session,
            app.id,
            "1.0.0",
            "",
            {"app_url": "https://app.example", "webhook_url": url},
            outbound=LOOPBACK,
        )
        session.add(
            Installation(
                app_id=app.id,
                shop_id=world.shop.id,
                status=InstallationStatus.ACTIVE,
                granted_scopes=list(SCOPES),
            )
        )
        subscription = await create_subscription(
            session,
            SubscriptionRequest(app.id, [Topic.ORDERS_CREATED.value], 2, "bench"),
            SCOPES,
            LOOPBACK,
        )
        return subscription.id


async def _record(world: World, count: int) -> list[bytes]:
    """``count`` committed events; their bodies as the app receives them, for the baseline."""
    now = datetime.now(UTC)
    async with world.services.db.writer() as session, session.begin():
        events = [
            record_event(session, Topic.ORDERS_CREATED, world.shop.id, _payload(n), occurred_at=now)
            for n in range(count)
        ]
        await session.flush()
        return [httpx.Request("POST", "/", json=render_payload(e, 2)).read() for e in events]


async def _dispatched(world: World, subscription_id: int) -> float:
    """Seconds for the dispatcher to route and deliver ``EVENTS`` new events."""
    await _record(world, EVENTS)
    dispatcher = world.services.events.dispatcher
    started = time.perf_counter()
    delivered = 0
    while delivered < EVENTS:
        report = await dispatcher.run_once()
        assert report.failed == 0, report
        delivered += report.delivered
    elapsed = time.perf_counter() - started
    async with world.services.db.reader() as session:
        pending = await session.scalar(
            select(func.count())
            .select_from(WebhookDelivery)
            .where(
                WebhookDelivery.subscription_id == subscription_id,
                WebhookDelivery.status != DeliveryStatus.DELIVERED,
            )
        )
    assert pending == 0
    return elapsed


async def _plain(url: str, bodies: list[bytes]) -> float:
    """Seconds for a plain client loop to POST the same bodies, one after another."""
    async with httpx.AsyncClient() as http:
        started = time.perf_counter()
        for body in bodies:
            response = await http.post(
                url, content=body, headers={"content-type": "application/json"}
            )
            assert response.status_code == 200
        return time.perf_counter() - started


async def _run(world: World, receiver: Receiver) -> tuple[list[float], list[float]]:
    subscription_id = await _subscribe(world, receiver.endpoint("/hooks"))
    bodies = await _record(world, EVENTS)
    await world.services.events.dispatcher.run_once()  # warm up: these are the bodies' events
    dispatcher_rates, plain_rates = [], []
    for _ in range(ROUNDS):
        plain_rates.append(EVENTS / await _plain(receiver.endpoint("/plain"), bodies))
        dispatcher_rates.append(EVENTS / await _dispatched(world, subscription_id))
    return dispatcher_rates, plain_rates


async def main() -> None:
    with tempfile.TemporaryDirectory() as scratch:
        # The bench drives the dispatcher itself (the settings turn its loop off).
        settings = bench_settings(Path(scratch), f"sqlite+aiosqlite:///{scratch}/bench.db")
        url = settings.resolved_database_url
        await asyncio.to_thread(upgrade, url)
        await sync_policy(settings, url)
        app = create_app(settings)
        async with app.router.lifespan_context(app), running_receiver() as receiver:
            world = await make_world(app)
            dispatched, plain = await _run(world, receiver)
    dispatcher_rate, plain_rate = statistics.median(dispatched), statistics.median(plain)
    print(f"{EVENTS} events per round, {ROUNDS} rounds, one endpoint, SQLite")
    print(f"{'measurement':40} {'median events/s':>16} {'baseline events/s':>18} {'ratio':>7}")
    print(
        f"{'dispatcher vs plain httpx loop':40} {dispatcher_rate:16.0f} {plain_rate:18.0f}"
        f" {dispatcher_rate / plain_rate:7.2f}"
    )


if __name__ == "__main__":  # python -m bench.dispatch
    asyncio.run(main())
