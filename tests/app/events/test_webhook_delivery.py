"""Delivery end to end, over real HTTP to a receiver on 127.0.0.1 and the real database: an
event recorded in a shop reaches each installed, subscribed app once, signed with that app's
webhook secret, in the payload version its subscription names."""

from __future__ import annotations

import pytest

from app.events.models import DeliveryStatus
from app.events.topics import Topic
from tests.app.events.harness import (
    Dispatchers,
    attempts_of,
    deliveries_of,
    record,
    subscribe,
)
from tests.support.factories import World, gid
from tests.support.receiver import Receiver

pytestmark = pytest.mark.anyio

ORDER = {
    "order_id": 12,
    "name": "#1001",
    "line_ids": [3, 4],
    "total": {"amount": 1250, "currency": "EUR"},
    "shipping_address": {"country_code": "DE"},
}


async def test_an_event_reaches_each_subscriber_once_signed_and_rendered(
    world: World, receiver: Receiver, dispatchers: Dispatchers
) -> None:
    latest = await subscribe(world, receiver.endpoint("/v2"), payload_version=2)
    first = await subscribe(world, receiver.endpoint("/v1"), payload_version=1)
    event = await record(world, ORDER)
    dispatcher = dispatchers()

    report = await dispatcher.run_once()
    assert (report.routed, report.attempted, report.delivered) == (1, 2, 2)
    assert sorted(r.path for r in receiver.requests) == ["/v1", "/v2"]
    assert receiver.processed == {event.id: 1}

    by_path = {r.path: r for r in receiver.requests}
    for path, subscriber, other in (("/v2", latest, first), ("/v1", first, latest)):
        request = by_path[path]
        assert request.signed_by(subscriber.webhook_secret)
        assert not request.signed_by(other.webhook_secret)
        assert request.headers["x-agora-key"] == "agora"
        assert request.headers["x-agora-nonce"] == event.id
        assert request.headers["x-agora-event-id"] == event.id
        assert request.headers["x-agora-topic"] == "orders/created"
        assert request.headers["content-type"] == "application/json"

    v2 = by_path["/v2"].json()
    assert v2 == {
        "id": event.id,
        "topic": "orders/created",
        "shopId": gid("Shop", world.shop.id),
        "payloadVersion": 2,
        "occurredAt": v2["occurredAt"],
        "data": {
            "orderId": gid("Order", 12),
            "name": "#1001",
            "lineIds": [3, 4],  # not a known id type: left as it is
            "total": {"amount": "12.50", "currencyCode": "EUR"},
            "shippingAddress": {"countryCode": "DE"},
        },
    }
    assert v2["occurredAt"].endswith("Z")
    v1 = by_path["/v1"].json()
    assert v1["payloadVersion"] == 1
    assert v1["data"]["orderId"] == gid("Order", 12)
    assert v1["data"]["total"] == {"amountMinor": 1250, "currency": "EUR"}

    # Nothing is sent twice: the next rounds find nothing to do.
    again = await dispatcher.run_once()
    assert again.idle
    assert len(receiver.requests) == 2

    for subscriber in (latest, first):
        [delivery] = await deliveries_of(world, subscriber)
        assert delivery.status is DeliveryStatus.DELIVERED
        assert delivery.attempt_count == 1
        assert delivery.lease_token is None
        [attempt] = await attempts_of(world, delivery.id)
        assert attempt.status_code == 200
        assert attempt.error == ""
        assert attempt.latency_ms >= 0


async def test_each_event_of_a_batch_keeps_its_own_id_and_order(
    world: World, receiver: Receiver, dispatchers: Dispatchers
) -> None:
    subscriber = await subscribe(world, receiver.endpoint(), topics=list(Topic)[:4])
    events = [
        await record(world, {"order_id": n}, topic=topic)
        for n, topic in enumerate([Topic.ORDERS_CREATED, Topic.ORDERS_PAID] * 5)
    ]
    report = await dispatchers().run_once()
    assert (report.routed, report.delivered) == (10, 10)
    # One endpoint's deliveries go one after another, in the order they happened.
    assert receiver.event_ids() == [e.id for e in events]
    assert [r.headers["x-agora-topic"] for r in receiver.requests] == [e.topic for e in events]
    assert all(r.signed_by(subscriber.webhook_secret) for r in receiver.requests)
    assert [r.json()["data"]["orderId"] for r in receiver.requests] == [
        gid("Order", n) for n in range(10)
    ]


async def test_a_2xx_answer_of_any_body_is_a_delivery(
    world: World, receiver: Receiver, dispatchers: Dispatchers
) -> None:
    """Agora does not read what the app answers beyond its status."""
    subscriber = await subscribe(world, receiver.endpoint())
    receiver.mode = "garbage"
    await record(world, {"order_id": 1})
    report = await dispatchers().run_once()
    assert report.delivered == 1
    [delivery] = await deliveries_of(world, subscriber)
    assert delivery.status is DeliveryStatus.DELIVERED


async def test_an_oversized_answer_is_a_failed_attempt(
    world: World, receiver: Receiver, dispatchers: Dispatchers
) -> None:
    subscriber = await subscribe(world, receiver.endpoint())
    receiver.answer = {"padding": "x" * 70_000}  # over the client's 64 KiB bound
    await record(world, {"order_id": 1})
    report = await dispatchers().run_once()
    assert (report.attempted, report.failed) == (1, 1)
    [delivery] = await deliveries_of(world, subscriber)
    assert delivery.status is DeliveryStatus.PENDING
    [attempt] = await attempts_of(world, delivery.id)
    assert attempt.status_code is None
    assert attempt.error.startswith("too_large")


async def test_a_rotated_secret_signs_the_next_delivery(
    world: World, receiver: Receiver, dispatchers: Dispatchers
) -> None:
    from marketplace.webhooks import rotate_webhook_secret

    subscriber = await subscribe(world, receiver.endpoint())
    async with world.services.db.writer() as session, session.begin():
        _, fresh = await rotate_webhook_secret(session, world.services.cipher, subscriber.app_id)
    await record(world, {"order_id": 1})
    await dispatchers().run_once()
    [request] = receiver.requests
    assert request.signed_by(fresh)
    assert not request.signed_by(subscriber.webhook_secret)
