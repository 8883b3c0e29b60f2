"""Atomicity: an event exists only if the transaction that recorded it commits, and a
dispatcher that dies mid-batch loses nothing: its lease runs out and another dispatcher sends
the event again under the same id, which the receiver dedupes."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable

import pytest
from sqlalchemy import select

from app.events.delivery import claim_batch, record_batch
from app.events.models import DeliveryStatus, OutboxEvent
from app.events.outbox import record_event
from app.events.topics import Topic
from tests.app.events.harness import (
    Dispatchers,
    StepClock,
    attempts_of,
    deliveries_of,
    quick_policy,
    record,
    subscribe,
)
from tests.support.factories import World
from tests.support.receiver import Receiver

pytestmark = pytest.mark.anyio

LEASE = 60  # quick_policy keeps the default lease, in seconds


class _Abandoned(Exception):
    pass


async def _record_then_roll_back(world: World) -> str:
    """Records an event, flushes it into the transaction, then fails: the id it had."""
    async with world.services.db.writer() as session, session.begin():
        event = record_event(
            session,
            Topic.ORDERS_CREATED,
            world.shop.id,
            {"order_id": 1},
            occurred_at=world.services.clock(),
        )
        await session.flush()  # written, inside the transaction ...
        raise _Abandoned(event.id)  # ... which then rolls back


async def test_a_rolled_back_transaction_never_sends_its_event(
    world: World, receiver: Receiver, dispatchers: Dispatchers
) -> None:
    await subscribe(world, receiver.endpoint())
    with pytest.raises(_Abandoned) as abandoned:
        await _record_then_roll_back(world)
    [event_id] = abandoned.value.args
    kept = await record(world, {"order_id": 2})
    report = await dispatchers().run_once()
    assert (report.routed, report.delivered) == (1, 1)
    assert receiver.event_ids() == [kept.id]
    async with world.services.db.reader() as session:
        assert await session.scalar(select(OutboxEvent).where(OutboxEvent.id == event_id)) is None


async def _wait_for(condition: Callable[[], bool], limit: float = 5.0) -> None:
    async with asyncio.timeout(limit):
        while not condition():
            await asyncio.sleep(0.01)


async def test_a_dispatcher_killed_while_the_app_hangs_is_replaced_after_its_lease(
    world: World, receiver: Receiver, dispatchers: Dispatchers, steps: StepClock
) -> None:
    subscriber = await subscribe(world, receiver.endpoint())
    event = await record(world, {"order_id": 1})
    receiver.script = ["hang"]
    first = dispatchers()
    task = asyncio.create_task(first.run_once())
    await _wait_for(lambda: receiver.in_flight == 1)
    task.cancel()  # killed mid-batch: sent, no answer, nothing recorded
    with contextlib.suppress(asyncio.CancelledError):
        await task

    [leased] = await deliveries_of(world, subscriber)
    assert leased.status is DeliveryStatus.PENDING
    assert leased.lease_token is not None
    assert leased.attempt_count == 0
    second = dispatchers()
    # While the lease holds, nobody else sends it ...
    steps.advance(LEASE - 1)
    assert (await second.run_once()).idle
    # ... and once it has run out, another dispatcher does, with the same event id.
    steps.advance(1)
    report = await second.run_once()
    assert report.delivered == 1
    assert receiver.processed == {event.id: 1}
    [delivered] = await deliveries_of(world, subscriber)
    assert delivered.status is DeliveryStatus.DELIVERED
    assert delivered.lease_token is None
    assert [a.status_code for a in await attempts_of(world, delivered.id)] == [200]


async def test_a_delivery_sent_but_never_recorded_is_sent_again_and_deduped(
    world: World, receiver: Receiver, dispatchers: Dispatchers, steps: StepClock
) -> None:
    """The dispatcher died between the app's 200 and its own commit: the app sees the event
    twice, under one id, and processes it once."""
    subscriber = await subscribe(world, receiver.endpoint())
    events = [await record(world, {"order_id": n}) for n in range(3)]
    policy = quick_policy()
    doomed = dispatchers.services(policy)
    await doomed.dispatcher.route()
    batch = await claim_batch(world.services.db, steps(), policy)
    assert batch is not None and len(batch.deliveries) == 3
    sender = doomed.dispatcher._sender
    attempts = await sender.attempt_batch(batch)
    assert all(a.ok for a in attempts)
    assert len(receiver.requests) == 3  # ... and then it died.

    steps.advance(LEASE)
    report = await dispatchers(policy).run_once()
    assert report.delivered == 3
    assert receiver.event_ids() == [e.id for e in events] * 2
    assert receiver.processed == {e.id: 1 for e in events}
    assert receiver.duplicates == {e.id: 1 for e in events}
    assert {d.status for d in await deliveries_of(world, subscriber)} == {DeliveryStatus.DELIVERED}


async def test_a_dispatcher_whose_lease_was_taken_over_cannot_overwrite_the_outcome(
    world: World, receiver: Receiver, dispatchers: Dispatchers, steps: StepClock
) -> None:
    """Too slow: it failed, but another dispatcher has since delivered under a new lease.
    Its late record keeps its attempt in the history and changes nothing else."""
    subscriber = await subscribe(world, receiver.endpoint())
    await record(world, {"order_id": 1})
    policy = quick_policy()
    slow = dispatchers.services(policy)
    await slow.dispatcher.route()
    batch = await claim_batch(world.services.db, steps(), policy)
    assert batch is not None
    receiver.script = ["fail"]
    late = await slow.dispatcher._sender.attempt_batch(batch)
    assert [a.ok for a in late] == [False]

    steps.advance(LEASE)
    assert (await dispatchers(policy).run_once()).delivered == 1
    async with world.services.db.writer() as session, session.begin():
        await record_batch(session, batch, late, steps(), policy)
    [delivery] = await deliveries_of(world, subscriber)
    assert delivery.status is DeliveryStatus.DELIVERED
    assert delivery.attempt_count == 1
    assert delivery.last_error == ""
    assert sorted(a.status_code or 0 for a in await attempts_of(world, delivery.id)) == [200, 500]


async def test_a_claimed_batch_is_not_claimed_again_while_leased(
    world: World, receiver: Receiver, dispatchers: Dispatchers, steps: StepClock
) -> None:
    await subscribe(world, receiver.endpoint())
    await record(world, {"order_id": 1})
    policy = quick_policy()
    await dispatchers(policy).route()
    assert await claim_batch(world.services.db, steps(), policy) is not None
    assert await claim_batch(world.services.db, steps(), policy) is None
    steps.advance(LEASE)
    assert await claim_batch(world.services.db, steps(), policy) is not None
