"""A hanging app is abandoned after the policy's timeout: the attempt is a failure with no
status code, retried later like any other."""

from __future__ import annotations

import pytest

from app.events.models import DeliveryStatus
from tests.app.events.harness import (
    Dispatchers,
    attempts_of,
    deliveries_of,
    quick_policy,
    record,
    subscribe,
)
from tests.support.factories import World
from tests.support.receiver import Receiver

pytestmark = pytest.mark.anyio


async def test_a_hanging_endpoint_is_abandoned_after_the_timeout(
    world: World, receiver: Receiver, dispatchers: Dispatchers
) -> None:
    subscriber = await subscribe(world, receiver.endpoint())
    receiver.mode = "hang"
    event = await record(world, {"order_id": 1})
    report = await dispatchers(quick_policy(timeout_seconds=0.3)).run_once()
    assert (report.attempted, report.failed) == (1, 1)
    assert receiver.in_flight == 1  # the app never answered
    [delivery] = await deliveries_of(world, subscriber)
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.attempt_count == 1
    assert delivery.lease_token is None
    assert delivery.last_error == "timeout: no answer in 0.3 s"
    [attempt] = await attempts_of(world, delivery.id)
    assert attempt.status_code is None
    assert attempt.error == "timeout: no answer in 0.3 s"
    assert event.id not in receiver.processed


async def test_a_hanging_endpoint_does_not_hold_up_another(
    world: World, receiver: Receiver, dispatchers: Dispatchers
) -> None:
    """Endpoints are attempted side by side: the healthy one is delivered in the same round
    as the hanging one times out."""
    from tests.support.receiver import running_receiver

    await subscribe(world, receiver.endpoint())
    async with running_receiver() as healthy:
        await subscribe(world, healthy.endpoint())
        receiver.mode = "hang"
        event = await record(world, {"order_id": 1})
        report = await dispatchers(quick_policy(timeout_seconds=0.3)).run_once()
        assert (report.attempted, report.delivered, report.failed) == (2, 1, 1)
        assert healthy.processed == {event.id: 1}


async def test_a_closed_port_is_a_connection_failure(
    world: World, dispatchers: Dispatchers
) -> None:
    from tests.support.receiver import running_receiver

    async with running_receiver() as gone:
        url = gone.endpoint()
    subscriber = await subscribe(world, url)  # nothing listens there any more
    await record(world, {"order_id": 1})
    report = await dispatchers().run_once()
    assert (report.attempted, report.failed) == (1, 1)
    [delivery] = await deliveries_of(world, subscriber)
    assert delivery.status is DeliveryStatus.PENDING
    assert delivery.last_error.startswith("connection: ")
