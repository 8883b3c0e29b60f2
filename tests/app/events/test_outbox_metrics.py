"""The outbox's metrics: delivery outcomes counted by the dispatcher, and the lag a scrape
measures (the age of the oldest event waiting to be routed)."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.events.lag import OutboxLag, outbox_lag
from tests.app.events.harness import Dispatchers, StepClock, record, subscribe
from tests.support.factories import World
from tests.support.metrics import value
from tests.support.receiver import Receiver

pytestmark = pytest.mark.anyio

ORDER = {"order": {"id": "gid://agora/Order/1", "name": "#1001"}}


async def test_delivery_outcomes_are_counted(
    world: World, receiver: Receiver, dispatchers: Dispatchers
) -> None:
    delivered = value("agora_webhook_deliveries_total", outcome="delivered")
    retrying = value("agora_webhook_deliveries_total", outcome="retrying")
    await subscribe(world, receiver.endpoint("/ok"))
    await record(world, ORDER)
    await dispatchers().run_once()

    receiver.mode = "fail"
    await record(world, ORDER)
    await dispatchers().run_once()

    assert value("agora_webhook_deliveries_total", outcome="delivered") - delivered == 1
    assert value("agora_webhook_deliveries_total", outcome="retrying") - retrying == 1


async def test_the_lag_is_the_age_of_the_oldest_unrouted_event(
    world: World, dispatchers: Dispatchers, steps: StepClock
) -> None:
    await record(world, ORDER, at=steps.now)
    later = steps.now + timedelta(seconds=90)

    assert (await outbox_lag(world.services.db, later))["routing"] == 90
    await OutboxLag(world.services.db, lambda: later)()
    assert value("agora_outbox_lag_seconds", stage="routing") == 90

    await dispatchers().run_once()
    assert (await outbox_lag(world.services.db, later))["routing"] == 0
