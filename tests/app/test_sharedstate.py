"""Both shared-state backends keep the same promises."""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator

import pytest
from redis.asyncio import Redis

from app.sharedstate import MemoryState, RedisState, SharedState

pytestmark = pytest.mark.anyio


class Ticking:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(params=["memory", pytest.param("redis", marks=pytest.mark.redis)])
async def state(request: pytest.FixtureRequest) -> AsyncIterator[SharedState]:
    if request.param == "memory":
        yield MemoryState()
        return
    redis = Redis.from_url(os.environ["AGORA_REDIS_URL"])
    try:
        yield RedisState(redis, f"agora-test:{uuid.uuid4().hex}:")
    finally:
        await redis.aclose()


async def test_a_key_is_claimed_once(state: SharedState) -> None:
    results = await asyncio.gather(*(state.claim("nonce-1", 60) for _ in range(10)))
    assert results.count(True) == 1
    assert await state.contains("nonce-1")
    assert not await state.contains("nonce-2")
    await state.forget("nonce-1")
    assert await state.claim("nonce-1", 60)


async def test_memory_keys_expire_with_the_clock() -> None:
    clock = Ticking()
    state = MemoryState(clock)
    assert await state.claim("k", 600)
    clock.now += 599
    assert not await state.claim("k", 600)
    clock.now += 2
    assert not await state.contains("k")
    assert await state.claim("k", 600)


@pytest.mark.redis
async def test_redis_keys_carry_the_prefix_and_expire() -> None:
    redis = Redis.from_url(os.environ["AGORA_REDIS_URL"])
    prefix = f"agora-test:{uuid.uuid4().hex}:"
    try:
        state = RedisState(redis, prefix)
        assert await state.claim("nonce", 600)
        assert 0 < await redis.ttl(f"{prefix}nonce") <= 600
        assert not await redis.exists("nonce")
    finally:
        await redis.delete(f"{prefix}nonce")
        await redis.aclose()
