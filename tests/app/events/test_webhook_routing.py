"""Routing: an event in a shop goes only to apps installed there, active, subscribed to its
topic and granted the topic's scope, at the webhook URL of the version the installation is
assigned by the canary rollout."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from app.events.topics import Topic
from marketplace.app_models import InstallationStatus
from marketplace.installs import uninstall
from tests.app.events.harness import (
    Dispatchers,
    add_version,
    deliveries_of,
    record,
    subscribe,
)
from tests.support.factories import World, gid
from tests.support.receiver import Receiver

pytestmark = pytest.mark.anyio


async def test_an_unsubscribed_topic_is_not_delivered(
    world: World, receiver: Receiver, dispatchers: Dispatchers
) -> None:
    subscriber = await subscribe(world, receiver.endpoint(), topics=[Topic.ORDERS_PAID])
    await record(world, {"order_id": 1}, topic=Topic.ORDERS_CREATED)
    paid = await record(world, {"order_id": 1}, topic=Topic.ORDERS_PAID)
    report = await dispatchers().run_once()
    assert (report.routed, report.delivered) == (2, 1)
    assert receiver.event_ids() == [paid.id]
    assert len(await deliveries_of(world, subscriber)) == 1


async def test_an_app_not_installed_in_the_shop_hears_nothing_of_it(
    world: World, other_world: World, receiver: Receiver, dispatchers: Dispatchers
) -> None:
    """Installed in another shop only: that shop's events reach it, this shop's do not."""
    subscriber = await subscribe(other_world, receiver.endpoint())
    await record(world, {"order_id": 1})
    theirs = await record(other_world, {"order_id": 2})
    report = await dispatchers().run_once()
    assert (report.routed, report.delivered) == (2, 1)
    assert receiver.event_ids() == [theirs.id]
    assert receiver.requests[0].json()["shopId"] == gid("Shop", other_world.shop.id)
    [delivery] = await deliveries_of(world, subscriber)
    assert delivery.shop_id == other_world.shop.id


@pytest.mark.parametrize(
    "status", [InstallationStatus.PENDING, InstallationStatus.UNINSTALLED], ids=str
)
async def test_an_installation_that_is_not_active_hears_nothing(
    world: World, receiver: Receiver, dispatchers: Dispatchers, status: InstallationStatus
) -> None:
    subscriber = await subscribe(world, receiver.endpoint(), status=status)
    await record(world, {"order_id": 1})
    report = await dispatchers().run_once()
    assert (report.routed, report.attempted) == (1, 0)
    assert receiver.requests == []
    assert await deliveries_of(world, subscriber) == []


async def test_after_an_uninstall_only_the_uninstall_itself_is_told(
    world: World, receiver: Receiver, dispatchers: Dispatchers
) -> None:
    subscriber = await subscribe(
        world, receiver.endpoint(), topics=[Topic.ORDERS_CREATED, Topic.APPS_UNINSTALLED]
    )
    before = await record(world, {"order_id": 1})
    dispatcher = dispatchers()
    await dispatcher.run_once()
    async with world.services.db.writer() as session, session.begin():
        await uninstall(session, world.shop.id, subscriber.installation_id, datetime.now(UTC))
    await record(world, {"order_id": 2})
    report = await dispatcher.run_once()
    assert report.delivered == 1
    assert [r.headers["x-agora-topic"] for r in receiver.requests] == [
        "orders/created",
        "apps/uninstalled",
    ]
    assert receiver.requests[0].headers["x-agora-event-id"] == before.id
    told = receiver.requests[1].json()["data"]
    assert told["installationId"] == gid("Installation", subscriber.installation_id)
    assert told["appId"] == gid("App", subscriber.app_id)


async def test_a_topic_whose_scope_the_shop_did_not_grant_is_not_delivered(
    world: World, receiver: Receiver, dispatchers: Dispatchers
) -> None:
    """The subscription was allowed by the app's scopes; this shop granted less."""
    stingy = await subscribe(world, receiver.endpoint("/stingy"), granted=["webhooks"])
    silent = await subscribe(world, receiver.endpoint("/silent"), granted=["trade:read"])
    writer = await subscribe(
        world, receiver.endpoint("/writer"), granted=["trade:write", "webhooks"]
    )
    event = await record(world, {"order_id": 1})
    await dispatchers().run_once()
    # trade:write includes trade:read; without webhooks, or without the read scope, nothing.
    assert [(r.path, r.headers["x-agora-event-id"]) for r in receiver.requests] == [
        ("/writer", event.id)
    ]
    assert await deliveries_of(world, stingy) == []
    assert await deliveries_of(world, silent) == []
    assert len(await deliveries_of(world, writer)) == 1


async def test_a_canary_installation_gets_the_new_versions_webhook_url(
    world: World, other_world: World, receiver: Receiver, dispatchers: Dispatchers
) -> None:
    """Version 1.1.0 is rolled out to buckets 0-49: the installation in bucket 10 moves to its
    URL, the one in bucket 90 (same app, another shop) stays on 1.0.0's."""
    canary = await subscribe(world, receiver.endpoint("/v1.0"), bucket=10)
    async with world.services.db.writer() as session, session.begin():
        from marketplace.app_models import Installation

        session.add(
            Installation(
                app_id=canary.app_id,
                shop_id=other_world.shop.id,
                status=InstallationStatus.ACTIVE,
                bucket=90,
                granted_scopes=["trade:read", "webhooks"],
                requested_by="test",
            )
        )
    await add_version(world, canary.app_id, "1.1.0", receiver.endpoint("/v1.1"), rollout=50)
    here = await record(world, {"order_id": 1})
    there = await record(other_world, {"order_id": 2})
    report = await dispatchers().run_once()
    assert report.delivered == 2
    paths = {r.headers["x-agora-event-id"]: r.path for r in receiver.requests}
    assert paths == {here.id: "/v1.1", there.id: "/v1.0"}
    # Each delivery keeps the URL it was routed to.
    assert {d.url for d in await deliveries_of(world, canary)} == {
        receiver.endpoint("/v1.1"),
        receiver.endpoint("/v1.0"),
    }


async def test_a_subscription_deleted_before_delivery_drops_its_pending_deliveries(
    world: World, receiver: Receiver, dispatchers: Dispatchers
) -> None:
    from marketplace.webhooks import delete_subscription

    subscriber = await subscribe(world, receiver.endpoint())
    await record(world, {"order_id": 1})
    dispatcher = dispatchers()
    assert await dispatcher.route() == 1
    assert len(await deliveries_of(world, subscriber)) == 1
    async with world.services.db.writer() as session, session.begin():
        await delete_subscription(session, subscriber.subscription_id)
    report = await dispatcher.run_once()
    assert report.idle
    assert receiver.requests == []
