"""Telling every worker that something it caches changed (RBAC policy, rate-limit overrides),
so each reloads within moments.

With Redis, a change is published on the deployment's channel and every worker (the publisher
included) reloads when the message arrives. Without Redis there is one process, which reloads
at once. A worker that loses its subscription reloads when it reconnects, since it may have
missed a change meanwhile.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable

from redis.asyncio import Redis
from redis.asyncio.client import PubSub

__all__ = ["ChangeSignal"]

log = logging.getLogger("agora.signals")


class ChangeSignal:
    def __init__(
        self, reload: Callable[[], Awaitable[None]], redis: Redis | None, *, channel: str
    ) -> None:
        self._reload = reload
        self._redis = redis
        self.channel = channel
        self.subscribed = asyncio.Event()

    async def announce(self) -> None:
        """Call after the transaction that made the change has committed."""
        if self._redis is None:
            await self._reload()
            return
        await self._redis.publish(self.channel, b"reload")

    @staticmethod
    async def _confirmed(pubsub: PubSub) -> None:
        """Wait for Redis to confirm the subscription: until then a change could be missed."""
        while True:
            message = await pubsub.get_message(timeout=5)
            if message is not None and message.get("type") == "subscribe":
                return

    async def listen(self) -> None:
        """Run for the life of the app; reload on every announcement."""
        if self._redis is None:
            self.subscribed.set()
            return
        first = True
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.subscribe(self.channel)
                    await self._confirmed(pubsub)
                    if not first:
                        await self._reload()
                    first = False
                    self.subscribed.set()
                    async for message in pubsub.listen():
                        if message.get("type") == "message":
                            await self._reload()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.warning(
                    "lost the subscription to %s; resubscribing", self.channel, exc_info=True
                )
                await asyncio.sleep(1)
