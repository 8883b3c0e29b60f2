"""Fixtures for the outbox and webhook tests: a clock that stands still until moved, and
dispatchers built with a policy of the test's own, over the test app's real database."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.app.events.harness import Dispatchers, StepClock, dispatching
from tests.support.factories import World


@pytest.fixture
def steps() -> StepClock:
    return StepClock()


@pytest.fixture
async def dispatchers(world: World, steps: StepClock) -> AsyncIterator[Dispatchers]:
    async with dispatching(world, steps) as made:
        yield made
