"""SQL-statement budgets for the outbox dispatcher: one round routes a batch of events and
delivers a batch of webhooks in a fixed number of statements, whatever the batch's size and
however many endpoints it spans."""

from __future__ import annotations

import pytest

from app.events.topics import Topic
from tests.app.events.harness import StepClock, dispatching, quick_policy, record, subscribe
from tests.support.factories import World
from tests.support.receiver import Receiver
from tests.support.sql import StatementCounter

pytestmark = pytest.mark.anyio

# Routing: the unrouted events (locked), the subscriptions with their installations, the apps'
# versions, the deliveries (one INSERT), the events marked routed.
ROUTE_BUDGET = 5
# Claim: the due deliveries (locked), the circuits created where missing, the circuits
# locked, the leases, the events. Attempt: the apps' webhook secrets. Record: the attempts
# (one INSERT), the deliveries (one UPDATE by primary key), the circuits created where
# missing, the circuits locked, the circuits updated (one UPDATE by primary key).
DELIVER_BUDGET = 11
# A whole round: routing, one batch delivered, and the claim that finds nothing more.
ROUND_BUDGET = ROUTE_BUDGET + DELIVER_BUDGET + 1


async def _counts(
    world: World, receiver: Receiver, statements: StatementCounter, sizes: tuple[int, ...]
) -> dict[int, tuple[int, int, int]]:
    """Per batch size: the statements of routing, of delivering one batch, of a whole round."""
    paths = ("/a", "/b", "/c")
    for path in paths:
        await subscribe(world, receiver.endpoint(path), topics=[Topic.ORDERS_CREATED])
    counts = {}
    clock = StepClock()
    async with dispatching(world, clock) as dispatchers:
        dispatcher = dispatchers(quick_policy(batch_size=50))
        for size in sizes:
            for n in range(size):
                await record(world, {"order_id": n})
            clock.advance(1)  # time passes between rounds, as it does
            statements.reset()
            routed = await dispatcher.route()
            route = statements.count
            statements.reset()
            report = await dispatcher.deliver_batch()
            deliver = statements.count
            assert (routed, report.delivered) == (size, min(50, size * len(paths)))
            await dispatcher.run_once()  # the rest, if any, so the next size starts clean

            for n in range(size):
                await record(world, {"order_id": n})
            clock.advance(1)
            statements.reset()
            report = await dispatcher.run_once()
            whole = statements.count
            assert report.delivered == size * len(paths)
            counts[size] = (route, deliver, whole)
    return counts


async def test_a_dispatch_round_costs_the_same_for_small_and_large_batches(
    world: World, receiver: Receiver, statements: StatementCounter
) -> None:
    counts = await _counts(world, receiver, statements, (2, 16))
    assert counts[2] == counts[16], counts
    assert counts[2] == (ROUTE_BUDGET, DELIVER_BUDGET, ROUND_BUDGET), statements.statements
