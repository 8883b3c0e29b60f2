"""Retries and the dead letter: a failing app is retried with exponential backoff (the jitter
pinned, so the waits are exact), within the retry window; after it the delivery is dead, and
ops' redelivery sends it again with the same event id."""

from __future__ import annotations

import itertools
from datetime import timedelta

import pytest

from app.errors import DomainError
from app.events.dispatcher import Dispatcher
from app.events.models import DeliveryStatus
from app.events.policy import DeliveryPolicy
from app.events.redelivery import redeliver
from tests.app.events.harness import (
    Dispatchers,
    StepClock,
    Subscriber,
    attempts_of,
    deliveries_of,
    quick_policy,
    record,
    subscribe,
)
from tests.support.factories import World
from tests.support.receiver import Receiver

pytestmark = pytest.mark.anyio

# Waits after the 1st, 2nd, 3rd failure in a row: half of 30 s, 60 s, 120 s (jitter 0).
WAITS = (15, 30, 60)


async def test_three_failures_then_the_fourth_attempt_succeeds_after_backoff(
    world: World, receiver: Receiver, dispatchers: Dispatchers, steps: StepClock
) -> None:
    subscriber = await subscribe(world, receiver.endpoint())
    receiver.script = ["fail"] * 3
    event = await record(world, {"order_id": 1})
    dispatcher = dispatchers(quick_policy(backoff_base=timedelta(seconds=30)))

    report = await dispatcher.run_once()
    assert (report.attempted, report.failed) == (1, 1)
    for tried, wait in enumerate(WAITS, start=1):
        # Not before the backoff has passed ...
        steps.advance(wait - 1)
        assert (await dispatcher.run_once()).idle
        assert len(receiver.requests) == tried
        # ... and at once when it has.
        steps.advance(1)
        report = await dispatcher.run_once()
        assert report.attempted == 1
        assert len(receiver.requests) == tried + 1

    assert [r.answered for r in receiver.requests] == ["fail", "fail", "fail", "succeed"]
    assert receiver.event_ids() == [event.id] * 4  # the same event id every time
    assert [r.headers["x-agora-attempt"] for r in receiver.requests] == ["1", "2", "3", "4"]
    assert all(r.signed_by(subscriber.webhook_secret) for r in receiver.requests)
    assert receiver.processed == {event.id: 1}

    [delivery] = await deliveries_of(world, subscriber)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempt_count == 4
    assert delivery.last_error == ""
    attempts = await attempts_of(world, delivery.id)
    assert [a.status_code for a in attempts] == [500, 500, 500, 200]
    assert [a.error for a in attempts] == ["HTTP 500", "HTTP 500", "HTTP 500", ""]
    # Attempted when due: 15, 30 and 60 s apart.
    gaps = [b.attempted_at - a.attempted_at for a, b in itertools.pairwise(attempts)]
    assert gaps == [timedelta(seconds=w) for w in WAITS]
    assert (await dispatcher.run_once()).idle


async def test_the_jitter_spreads_a_wait_between_half_and_all_of_its_step() -> None:
    for jitter, expected in ((0.0, 15), (0.5, 22.5), (0.999, 29.985)):
        policy = DeliveryPolicy(jitter=lambda j=jitter: j)
        assert policy.backoff(1) == timedelta(seconds=expected)
    policy = DeliveryPolicy(jitter=lambda: 0.0, backoff_cap=timedelta(minutes=5))
    assert [policy.backoff(n).total_seconds() for n in range(1, 7)] == [
        15,
        30,
        60,
        120,
        150,
        150,
    ]


async def _spend_the_window(
    dispatcher: Dispatcher, subscriber: Subscriber, world: World, steps: StepClock
) -> int:
    """A round now, then the clock moved to each retry until the delivery is dead; the rounds
    it took."""
    await dispatcher.run_once()
    rounds = 1
    while True:
        [delivery] = await deliveries_of(world, subscriber)
        if delivery.status is not DeliveryStatus.PENDING:
            return rounds
        steps.now = max(steps.now, delivery.next_attempt_at)
        await dispatcher.run_once()
        rounds += 1
        assert rounds < 50


async def test_after_the_retry_window_the_delivery_is_dead_and_redelivery_sends_it(
    world: World, receiver: Receiver, dispatchers: Dispatchers, steps: StepClock
) -> None:
    """Window 10 min, backoff 15 s doubling: attempts at 0, 15, 45, 105, 225 and 465 s; the
    next would be at 945 s, past the window, so the sixth failure is the last."""
    policy = quick_policy(retry_window=timedelta(minutes=10), breaker_failures=1000)
    subscriber = await subscribe(world, receiver.endpoint())
    receiver.mode = "fail"
    event = await record(world, {"order_id": 1})
    dispatcher = dispatchers(policy)

    assert await _spend_the_window(dispatcher, subscriber, world, steps) == 6
    [dead] = await deliveries_of(world, subscriber)
    assert dead.status is DeliveryStatus.DEAD
    assert dead.attempt_count == 6
    assert dead.dead_at == steps.now
    assert dead.last_error == "HTTP 500"
    assert len(receiver.requests) == 6
    steps.advance(24 * 3600)
    assert (await dispatcher.run_once()).idle  # dead stays dead
    assert len(receiver.requests) == 6

    # Ops redeliver it; the app is back up.
    receiver.mode = "succeed"
    async with world.services.db.writer() as session, session.begin():
        again = await redeliver(session, dead.id, steps(), policy)
    assert again.status is DeliveryStatus.PENDING
    assert again.give_up_at == steps.now + policy.retry_window
    report = await dispatcher.run_once()
    assert report.delivered == 1
    assert receiver.event_ids()[-1] == event.id
    assert receiver.processed == {event.id: 1}
    [delivered] = await deliveries_of(world, subscriber)
    assert delivered.status is DeliveryStatus.DELIVERED
    assert delivered.attempt_count == 7
    assert delivered.dead_at is None
    attempts = await attempts_of(world, delivered.id)
    assert [a.status_code for a in attempts] == [500] * 6 + [200]


async def test_a_redelivered_delivery_gets_a_fresh_window(
    world: World, receiver: Receiver, dispatchers: Dispatchers, steps: StepClock
) -> None:
    """Redelivered and failing again, it is retried through a whole new window. Its backoff
    goes on from its attempt count (it is not reset), so the capped wait applies: with a
    2-minute window and waits of 15 s then 30 s (the cap's half), attempts at 0, 15, 45, 75
    and 105 s; after the redelivery at 0, 30, 60, 90 and 120 s."""
    policy = quick_policy(
        retry_window=timedelta(minutes=2),
        backoff_cap=timedelta(seconds=60),
        breaker_failures=1000,
    )
    subscriber = await subscribe(world, receiver.endpoint())
    receiver.mode = "fail"
    await record(world, {"order_id": 1})
    dispatcher = dispatchers(policy)
    assert await _spend_the_window(dispatcher, subscriber, world, steps) == 5
    [dead] = await deliveries_of(world, subscriber)
    redelivered_at = steps()
    async with world.services.db.writer() as session, session.begin():
        await redeliver(session, dead.id, redelivered_at, policy)
    assert await _spend_the_window(dispatcher, subscriber, world, steps) == 5
    [dead_again] = await deliveries_of(world, subscriber)
    assert dead_again.status is DeliveryStatus.DEAD
    assert dead_again.attempt_count == 10
    assert dead_again.dead_at == redelivered_at + timedelta(minutes=2)
    assert len(receiver.requests) == 10


@pytest.mark.parametrize("state", ["pending", "delivered"])
async def test_only_a_dead_delivery_can_be_redelivered(
    world: World, receiver: Receiver, dispatchers: Dispatchers, steps: StepClock, state: str
) -> None:
    subscriber = await subscribe(world, receiver.endpoint())
    await record(world, {"order_id": 1})
    dispatcher = dispatchers()
    if state == "pending":
        await dispatcher.route()
    else:
        await dispatcher.run_once()
    [delivery] = await deliveries_of(world, subscriber)
    assert delivery.status.value == state
    with pytest.raises(DomainError) as refused:
        async with world.services.db.writer() as session, session.begin():
            await redeliver(session, delivery.id, steps(), quick_policy())
    assert [p.code for p in refused.value.problems] == ["DELIVERY_NOT_DEAD"]
    [unchanged] = await deliveries_of(world, subscriber)
    assert unchanged.status.value == state
    assert len(receiver.requests) == (1 if state == "delivered" else 0)


async def test_redelivering_no_such_delivery_is_not_found(
    world: World, dispatchers: Dispatchers, steps: StepClock
) -> None:
    with pytest.raises(DomainError) as refused:
        async with world.services.db.writer() as session, session.begin():
            await redeliver(session, 2**40, steps(), quick_policy())
    assert [p.code for p in refused.value.problems] == ["NOT_FOUND"]
