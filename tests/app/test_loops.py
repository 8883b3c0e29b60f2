"""Background loops stop between rounds: a round under way finishes, an idle loop ends at
once, and only a round that overstays the grace period is cancelled."""

from __future__ import annotations

import asyncio

import pytest

from app.loops import Loop

pytestmark = pytest.mark.anyio


async def test_a_round_under_way_finishes_before_the_loop_stops() -> None:
    started, release = asyncio.Event(), asyncio.Event()
    finished: list[int] = []

    async def round_() -> bool:
        started.set()
        await release.wait()
        finished.append(1)
        return False

    loop = Loop("test", round_, interval=3600).start()
    await started.wait()
    stopping = asyncio.create_task(loop.stop(grace_seconds=30))
    await asyncio.sleep(0)
    assert not stopping.done()
    release.set()
    await stopping
    assert finished == [1]  # it finished, and no second round began


async def test_an_idle_loop_stops_at_once() -> None:
    rounds: list[int] = []

    async def round_() -> bool:
        rounds.append(1)
        return False  # idle: sleep an hour

    loop = Loop("test", round_, interval=3600).start()
    while not rounds:
        await asyncio.sleep(0)
    await asyncio.wait_for(loop.stop(grace_seconds=30), timeout=5)
    assert rounds == [1]


async def test_a_failing_round_does_not_end_the_loop() -> None:
    calls: list[int] = []

    async def round_() -> bool:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("logged; the loop goes on")
        return True

    loop = Loop("test", round_, interval=0.01).start()
    while len(calls) < 3:
        await asyncio.sleep(0.01)
    await asyncio.wait_for(loop.stop(grace_seconds=30), timeout=5)


async def test_a_round_past_the_grace_period_is_cancelled() -> None:
    cancelled = asyncio.Event()

    async def round_() -> bool:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return False

    loop = Loop("test", round_, interval=1).start()
    await asyncio.sleep(0)
    await loop.stop(grace_seconds=0.05)
    assert cancelled.is_set()
