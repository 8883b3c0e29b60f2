"""Token buckets: in process, or in Redis as one Lua script that reads Redis's own clock.

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens a second. Taking is
atomic; a negative take is a refund (used to give back unspent query cost), never above burst.
If Redis is unreachable, each process falls back to its own bucket at the limit divided by the
number of workers (so the fleet as a whole stays near the limit), or lets everything through
when fail-open is explicitly chosen.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from redis.asyncio import Redis
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from app.observability.metrics import RATE_LIMIT_FALLBACK, RATE_LIMIT_FALLBACK_DECISIONS

__all__ = ["BucketStore", "Decision", "FallbackBuckets", "MemoryBuckets", "RedisBuckets"]

log = logging.getLogger("agora.limits")
MAX_IDLE_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class Decision:
    allowed: bool
    remaining: float
    retry_after: float
    burst: float
    rate: float

    @property
    def reset_after(self) -> float:
        """Seconds until the bucket is full again."""
        return (self.burst - self.remaining) / self.rate if self.rate > 0 else 0.0


class BucketStore(Protocol):
    async def take(self, key: str, amount: float, *, rate: float, burst: float) -> Decision:
        """Take ``amount`` tokens if available (a negative amount refunds)."""
        ...


def _settle(tokens: float, amount: float, rate: float, burst: float) -> tuple[float, bool, float]:
    """Shared arithmetic: (tokens left, allowed, seconds until ``amount`` would fit)."""
    if amount <= 0:
        return min(burst, tokens - amount), True, 0.0
    if tokens >= amount:
        return tokens - amount, True, 0.0
    wait = (amount - tokens) / rate if rate > 0 else math.inf
    return tokens, False, wait


class MemoryBuckets:
    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._state: dict[str, tuple[float, float]] = {}
        self._sweep_at = 4096

    def _sweep(self, now: float) -> None:
        """Forget buckets idle for a day (full again by then), once the dict has doubled: one
        entry per client IP must not grow forever."""
        if len(self._state) >= self._sweep_at:
            self._state = {k: v for k, v in self._state.items() if now - v[1] < MAX_IDLE_SECONDS}
            self._sweep_at = max(4096, 2 * len(self._state))

    async def take(self, key: str, amount: float, *, rate: float, burst: float) -> Decision:
        now = self._clock()
        self._sweep(now)
        tokens, stamp = self._state.get(key, (burst, now))
        tokens = min(burst, tokens + max(0.0, now - stamp) * rate)
        tokens, allowed, wait = _settle(tokens, amount, rate, burst)
        self._state[key] = (tokens, now)
        return Decision(allowed, tokens, wait, burst, rate)


_TAKE = """
local now_parts = redis.call('TIME')
local now = tonumber(now_parts[1]) + tonumber(now_parts[2]) / 1000000
local rate = tonumber(ARGV[1])
local burst = tonumber(ARGV[2])
local amount = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'tokens', 'stamp')
local tokens = tonumber(state[1])
local stamp = tonumber(state[2])
if tokens == nil then
  tokens = burst
  stamp = now
end
tokens = math.min(burst, tokens + math.max(0, now - stamp) * rate)
local allowed = 1
local wait = 0
if amount <= 0 then
  tokens = math.min(burst, tokens - amount)
elseif tokens >= amount then
  tokens = tokens - amount
else
  allowed = 0
  if rate > 0 then wait = (amount - tokens) / rate else wait = -1 end
end
redis.call('HSET', KEYS[1], 'tokens', tostring(tokens), 'stamp', tostring(now))
redis.call('EXPIRE', KEYS[1], tonumber(ARGV[4]))
return {allowed, tostring(tokens), tostring(wait)}
"""


class RedisBuckets:
    """Shared by every worker. Time comes from Redis, so worker clocks never disagree."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._script = redis.register_script(_TAKE)
        self._prefix = prefix

    async def take(self, key: str, amount: float, *, rate: float, burst: float) -> Decision:
        idle = MAX_IDLE_SECONDS if rate <= 0 else min(MAX_IDLE_SECONDS, math.ceil(burst / rate) + 1)
        allowed, tokens, wait = await self._script(
            keys=[f"{self._prefix}bucket:{key}"], args=[rate, burst, amount, idle]
        )
        seconds = float(wait)
        return Decision(
            bool(allowed), float(tokens), math.inf if seconds < 0 else seconds, burst, rate
        )


class FallbackBuckets:
    """Redis first; when it cannot be reached, a per-process bucket (or fail-open)."""

    def __init__(
        self, primary: BucketStore, local: MemoryBuckets, *, workers: int, fail_open: bool
    ) -> None:
        self._primary = primary
        self._local = local
        self._workers = max(1, workers)
        self._fail_open = fail_open
        self._degraded = False

    async def take(self, key: str, amount: float, *, rate: float, burst: float) -> Decision:
        try:
            decision = await self._primary.take(key, amount, rate=rate, burst=burst)
        except (RedisConnectionError, RedisTimeoutError, OSError):
            if not self._degraded:
                log.warning(
                    "Redis unreachable: rate limits fall back to this process",
                    extra={"fail_open": self._fail_open, "workers": self._workers},
                )
                self._degraded = True
                RATE_LIMIT_FALLBACK.set(1)
            RATE_LIMIT_FALLBACK_DECISIONS.inc()
            if self._fail_open:
                return Decision(True, burst, 0.0, burst, rate)
            share = self._workers
            return await self._local.take(key, amount, rate=rate / share, burst=burst / share)
        if self._degraded:
            log.warning("Redis reachable again: rate limits are shared once more")
            self._degraded = False
            RATE_LIMIT_FALLBACK.set(0)
        return decision
