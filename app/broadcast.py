"""Live messages to whoever listens right now: in this process, or across every worker.

A GraphQL subscription listens on a topic (``shipments:order:42``); a change publishes to it
after its transaction commits. Without Redis, one process serves everything and a topic is a set
of local queues. With Redis, each worker holds one pattern subscription on the deployment's
prefix and fans messages out to its local listeners, so a carrier webhook that reaches one
worker is pushed to a subscriber connected to another. Delivery is at most once, as pub/sub is:
a listener that falls behind by more than its queue loses the oldest messages, never blocks the
publisher.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import defaultdict
from collections.abc import AsyncIterator
from typing import Protocol

from redis.asyncio import Redis

__all__ = ["Broadcast", "LocalBroadcast", "RedisBroadcast"]

log = logging.getLogger("agora.broadcast")

QUEUE_SIZE = 256


class Broadcast(Protocol):
    async def publish(self, topic: str, message: bytes) -> None: ...

    def listen(self, topic: str) -> contextlib.AbstractAsyncContextManager[AsyncIterator[bytes]]:
        """Messages published to ``topic`` from the moment the context is entered."""
        ...


class LocalBroadcast:
    def __init__(self) -> None:
        self._queues: dict[str, set[asyncio.Queue[bytes]]] = defaultdict(set)

    def deliver(self, topic: str, message: bytes) -> None:
        for queue in list(self._queues.get(topic, ())):
            if queue.full():
                queue.get_nowait()  # drop the oldest rather than block the publisher
            queue.put_nowait(message)

    async def publish(self, topic: str, message: bytes) -> None:
        self.deliver(topic, message)

    @contextlib.asynccontextmanager
    async def listen(self, topic: str) -> AsyncIterator[AsyncIterator[bytes]]:
        queue: asyncio.Queue[bytes] = asyncio.Queue(maxsize=QUEUE_SIZE)
        self._queues[topic].add(queue)

        async def messages() -> AsyncIterator[bytes]:
            while True:
                yield await queue.get()

        try:
            yield messages()
        finally:
            self._queues[topic].discard(queue)
            if not self._queues[topic]:
                del self._queues[topic]


class RedisBroadcast:
    """One ``PSUBSCRIBE <prefix>broadcast:*`` per process, fanned out locally."""

    def __init__(self, redis: Redis, prefix: str) -> None:
        self._redis = redis
        self._channel_prefix = f"{prefix}broadcast:"
        self._local = LocalBroadcast()
        self.subscribed = asyncio.Event()

    async def publish(self, topic: str, message: bytes) -> None:
        await self._redis.publish(self._channel_prefix + topic, message)

    def listen(self, topic: str) -> contextlib.AbstractAsyncContextManager[AsyncIterator[bytes]]:
        return self._local.listen(topic)

    async def run(self) -> None:
        """For the life of the app: relay this deployment's messages to local listeners."""
        while True:
            try:
                async with self._redis.pubsub() as pubsub:
                    await pubsub.psubscribe(self._channel_prefix + "*")
                    async for message in pubsub.listen():
                        if message.get("type") == "psubscribe":
                            self.subscribed.set()
                        elif message.get("type") == "pmessage":
                            channel = message["channel"]
                            if isinstance(channel, bytes):
                                channel = channel.decode()
                            topic = channel[len(self._channel_prefix) :]
                            self._local.deliver(topic, message["data"])
            except asyncio.CancelledError:
                raise
            except Exception:
                self.subscribed.clear()
                log.warning("lost the broadcast subscription; resubscribing", exc_info=True)
                await asyncio.sleep(1)
