"""State shared by every worker: Redis when configured, else a dict in this process.

Replay nonces, the JWT denylist and short-lived markers all need the same two things, "claim
this key once for N seconds" and "is this key present", so that is the whole interface. Every
key carries the deployment's prefix, so several deployments (or test runs) share one Redis
without seeing each other, and nothing here ever flushes the server.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol

from redis.asyncio import Redis

__all__ = ["MemoryState", "RedisState", "SharedState"]


class SharedState(Protocol):
    async def claim(self, key: str, ttl_seconds: int) -> bool:
        """Set ``key`` for ``ttl_seconds`` if it is absent. True when this call set it."""
        ...

    async def contains(self, key: str) -> bool: ...

    async def forget(self, key: str) -> None: ...


class MemoryState:
    """One process's state. Expired keys are swept as new ones arrive, so memory stays
    bounded by what is live."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._expiry: dict[str, float] = {}
        self._clock = clock
        self._sweep_at = 1024

    def _sweep(self, now: float) -> None:
        """Drop expired keys once the dict has doubled since the last sweep: amortised O(1)."""
        if len(self._expiry) >= self._sweep_at:
            self._expiry = {k: at for k, at in self._expiry.items() if at > now}
            self._sweep_at = max(1024, 2 * len(self._expiry))

    async def claim(self, key: str, ttl_seconds: int) -> bool:
        now = self._clock()
        if self._expiry.get(key, 0.0) > now:
            return False
        self._sweep(now)
        self._expiry[key] = now + ttl_seconds
        return True

    async def contains(self, key: str) -> bool:
        return self._expiry.get(key, 0.0) > self._clock()

    async def forget(self, key: str) -> None:
        self._expiry.pop(key, None)


class RedisState:
    def __init__(self, redis: Redis, prefix: str) -> None:
        self.redis = redis
        self.prefix = prefix

    def key(self, name: str) -> str:
        return f"{self.prefix}{name}"

    async def claim(self, key: str, ttl_seconds: int) -> bool:
        return bool(await self.redis.set(self.key(key), b"1", nx=True, ex=ttl_seconds))

    async def contains(self, key: str) -> bool:
        return bool(await self.redis.exists(self.key(key)))

    async def forget(self, key: str) -> None:
        await self.redis.delete(self.key(key))
