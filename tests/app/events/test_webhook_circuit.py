"""The per-endpoint circuit breaker: after N failures in a row it opens and the endpoint's
deliveries wait without being attempted; after the cooldown one probe goes (half-open); a
failing probe opens it again, a succeeding one closes it and the queue drains."""

from __future__ import annotations

from datetime import timedelta

import pytest

from app.events.delivery import claim_batch
from app.events.models import CircuitState, DeliveryStatus
from tests.app.events.harness import (
    Dispatchers,
    StepClock,
    circuit_of,
    deliveries_of,
    quick_policy,
    record,
    subscribe,
)
from tests.support.factories import World
from tests.support.receiver import Receiver, running_receiver

pytestmark = pytest.mark.anyio

FAILURES = 3
COOLDOWN = 120  # longer than any retry wait below, so only the breaker holds deliveries back
POLICY = {
    "breaker_failures": FAILURES,
    "breaker_cooldown": timedelta(seconds=COOLDOWN),
    "backoff_base": timedelta(seconds=2),
}


async def test_the_breaker_opens_after_n_failures_and_recovers_through_half_open(
    world: World, receiver: Receiver, dispatchers: Dispatchers, steps: StepClock
) -> None:
    async with running_receiver() as healthy:
        await _opens_and_recovers(world, receiver, healthy, dispatchers, steps)


async def _opens_and_recovers(
    world: World,
    receiver: Receiver,
    healthy: Receiver,
    dispatchers: Dispatchers,
    steps: StepClock,
) -> None:
    subscriber = await subscribe(world, receiver.endpoint())
    bystander = await subscribe(world, healthy.endpoint())
    receiver.mode = "fail"
    events = [await record(world, {"order_id": n}) for n in range(6)]
    dispatcher = dispatchers(quick_policy(**POLICY))

    # Closed: the first three fail, and the breaker keeps the other three from being tried.
    # Another app's endpoint in the same batch is not held back.
    report = await dispatcher.run_once()
    assert len(receiver.requests) == FAILURES
    assert len(healthy.requests) == 6
    assert (report.attempted, report.delivered) == (FAILURES + 6, 6)
    circuit = await circuit_of(world, subscriber)
    assert circuit is not None
    assert circuit.state is CircuitState.OPEN
    assert circuit.consecutive_failures == FAILURES
    assert circuit.retry_at == steps.now + timedelta(seconds=COOLDOWN)
    healthy_circuit = await circuit_of(world, bystander)
    assert healthy_circuit is not None and healthy_circuit.state is CircuitState.CLOSED
    deliveries = await deliveries_of(world, subscriber)
    assert [d.attempt_count for d in deliveries] == [1, 1, 1, 0, 0, 0]  # queued, not spent

    # Open: nothing goes to the endpoint, though retries fall due.
    for _ in range(3):
        steps.advance(30)
        assert (await dispatcher.run_once()).idle
    assert len(receiver.requests) == FAILURES

    # Half-open after the cooldown: one probe, which fails, and the breaker opens again.
    steps.advance(COOLDOWN - 90)
    report = await dispatcher.run_once()
    assert report.attempted == 1
    assert len(receiver.requests) == FAILURES + 1
    circuit = await circuit_of(world, subscriber)
    assert circuit is not None and circuit.state is CircuitState.OPEN
    assert circuit.retry_at == steps.now + timedelta(seconds=COOLDOWN)
    steps.advance(COOLDOWN - 1)
    assert (await dispatcher.run_once()).idle
    assert len(receiver.requests) == FAILURES + 1

    # The app is back: the next probe succeeds, the breaker closes and the queue drains.
    receiver.mode = "succeed"
    steps.advance(1)
    report = await dispatcher.run_once()
    assert report.delivered == 6
    assert len(receiver.requests) == FAILURES + 1 + 6
    circuit = await circuit_of(world, subscriber)
    assert circuit is not None
    assert circuit.state is CircuitState.CLOSED
    assert circuit.consecutive_failures == 0
    assert circuit.retry_at is None
    assert receiver.processed == {e.id: 1 for e in events}
    assert receiver.duplicates == {}
    assert all(d.status is DeliveryStatus.DELIVERED for d in await deliveries_of(world, subscriber))


async def test_the_breaker_counts_failures_across_rounds_and_a_success_resets_it(
    world: World, receiver: Receiver, dispatchers: Dispatchers, steps: StepClock
) -> None:
    subscriber = await subscribe(world, receiver.endpoint())
    dispatcher = dispatchers(quick_policy(**POLICY))
    receiver.script = ["fail", "fail", "succeed", "fail", "fail"]
    for n in range(5):
        await record(world, {"order_id": n})
        await dispatcher.run_once()
    circuit = await circuit_of(world, subscriber)
    assert circuit is not None
    assert circuit.state is CircuitState.CLOSED
    assert circuit.consecutive_failures == 2  # the success in the middle reset the count
    receiver.script = ["fail"]
    await record(world, {"order_id": 5})
    steps.advance(3600)  # every retry due as well: the first of them is the third failure
    await dispatcher.run_once()
    circuit = await circuit_of(world, subscriber)
    assert circuit is not None and circuit.state is CircuitState.OPEN


async def test_only_one_probe_goes_while_half_open(
    world: World, receiver: Receiver, dispatchers: Dispatchers, steps: StepClock
) -> None:
    """A probe out (claimed, its answer not recorded yet) keeps the endpoint's other deliveries
    queued for every dispatcher; if its dispatcher dies, another probe goes after the lease."""
    subscriber = await subscribe(world, receiver.endpoint())
    receiver.mode = "fail"
    for n in range(FAILURES + 2):
        await record(world, {"order_id": n})
    policy = quick_policy(**POLICY)
    first = dispatchers(policy)
    await first.run_once()
    assert len(receiver.requests) == FAILURES
    steps.advance(COOLDOWN)
    probe = await claim_batch(world.services.db, steps(), policy)
    assert probe is not None and len(probe.deliveries) == 1
    assert probe.gates[subscriber.endpoint_key].probe
    circuit = await circuit_of(world, subscriber)
    assert circuit is not None and circuit.state is CircuitState.HALF_OPEN
    # While the probe is out, another dispatcher claims nothing for this endpoint.
    assert await claim_batch(world.services.db, steps(), policy) is None
    assert (await dispatchers(policy).run_once()).idle
    assert len(receiver.requests) == FAILURES
    # The probing dispatcher never comes back: once its lease is over, a new probe goes.
    steps.advance(policy.lease.total_seconds())
    receiver.mode = "succeed"
    report = await dispatchers(policy).run_once()
    assert report.delivered == FAILURES + 2
    circuit = await circuit_of(world, subscriber)
    assert circuit is not None and circuit.state is CircuitState.CLOSED


async def test_a_refused_url_does_not_trip_the_breaker(
    world: World, receiver: Receiver, dispatchers: Dispatchers, steps: StepClock
) -> None:
    """A permanent refusal says nothing about the endpoint's health."""
    from app.security.outbound import OutboundPolicy

    subscriber = await subscribe(world, receiver.endpoint())
    for n in range(FAILURES + 1):
        await record(world, {"order_id": n})
    prod = OutboundPolicy(allow_loopback=False)
    await dispatchers(quick_policy(**POLICY), outbound=prod).run_once()
    deliveries = await deliveries_of(world, subscriber)
    assert {d.status for d in deliveries} == {DeliveryStatus.DEAD}
    circuit = await circuit_of(world, subscriber)
    assert circuit is None or (
        circuit.state is CircuitState.CLOSED and circuit.consecutive_failures == 0
    )
    assert receiver.requests == []
