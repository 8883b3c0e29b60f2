"""A small graphql-transport-ws client over a real websocket, for subscription tests.

It speaks the protocol by hand (connection_init/connection_ack, subscribe, next/error/complete,
ping/pong), so a test sees exactly the messages the server sends. Messages arrive on one socket
for every operation; ``receive(op_id)`` returns the next one for that operation and keeps the
others for later. A ping from the server is answered with a pong, as the protocol requires.
Every wait is bounded: a server that stays silent fails the test instead of hanging it.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict, deque
from collections.abc import AsyncIterator
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

__all__ = [
    "GRAPHQL_TRANSPORT_WS",
    "GRAPHQL_WS",
    "GraphQLWSClient",
    "Message",
    "ServerClosed",
    "ws_url",
]

GRAPHQL_TRANSPORT_WS = "graphql-transport-ws"
GRAPHQL_WS = "graphql-ws"  # the legacy subscriptions-transport-ws protocol
WAIT = 10.0

Message = dict[str, Any]


class ServerClosed(Exception):
    """The server closed the socket while the client was waiting for a message."""

    def __init__(self, code: int | None, reason: str) -> None:
        super().__init__(f"the server closed the websocket: {code} {reason!r}")
        self.code = code
        self.reason = reason


def ws_url(base_url: str, path: str = "/graphql") -> str:
    """``http://127.0.0.1:port`` (what ``serve_app`` yields) as ``ws://127.0.0.1:port/graphql``."""
    return base_url.replace("http://", "ws://", 1).replace("https://", "wss://", 1) + path


class GraphQLWSClient:
    def __init__(self, connection: ClientConnection) -> None:
        self.connection = connection
        self._pending: defaultdict[str, deque[Message]] = defaultdict(deque)
        self._history: defaultdict[str, list[Message]] = defaultdict(list)
        self._pongs = 0

    @classmethod
    @contextlib.asynccontextmanager
    async def connect(
        cls, url: str, *, subprotocols: tuple[str, ...] = (GRAPHQL_TRANSPORT_WS,)
    ) -> AsyncIterator[GraphQLWSClient]:
        """An open websocket offering ``subprotocols``; not initialised yet (see ``init``).
        The handshake is bounded by ``open_timeout``; a refused handshake raises."""
        async with connect(
            url,
            subprotocols=[Subprotocol(p) for p in subprotocols],
            open_timeout=WAIT,
            close_timeout=WAIT,
        ) as connection:
            yield cls(connection)

    @property
    def subprotocol(self) -> str | None:
        return self.connection.subprotocol

    # -- sending ----------------------------------------------------------------------------

    async def send(self, message: Message) -> None:
        await self.connection.send(orjson.dumps(message).decode())

    async def init(self, payload: dict[str, Any] | None = None) -> Message:
        """connection_init with ``payload``; the server's connection_ack."""
        await self.send({"type": "connection_init", "payload": payload or {}})
        ack = await self._read()
        assert ack["type"] == "connection_ack", ack
        return ack

    async def subscribe(
        self, op_id: str, query: str, variables: dict[str, Any] | None = None
    ) -> None:
        await self.send(
            {"id": op_id, "type": "subscribe", "payload": {"query": query, "variables": variables}}
        )

    async def complete(self, op_id: str) -> None:
        """The client stops the operation; the server sends nothing more for it."""
        await self.send({"id": op_id, "type": "complete"})

    async def ping(self) -> None:
        """A ping, answered by a pong: once it returns, the server has read everything sent
        before it, and every message it sent before the pong is kept for ``receive``."""
        expected = self._pongs + 1
        await self.send({"type": "ping"})
        async with asyncio.timeout(WAIT):
            while self._pongs < expected:
                await self._read_one()

    # -- receiving --------------------------------------------------------------------------

    async def receive(self, op_id: str) -> Message:
        """The next next/error/complete message for ``op_id`` (bounded wait)."""
        async with asyncio.timeout(WAIT):
            while not self._pending[op_id]:
                await self._read_one()
        return self._pending[op_id].popleft()

    def received(self, op_id: str) -> list[Message]:
        """What already arrived for ``op_id`` and was not taken yet (call after ``ping``)."""
        return list(self._pending[op_id])

    def history(self, op_id: str) -> list[Message]:
        """Every message that arrived for ``op_id`` so far, taken or not (call after ``ping``)."""
        return list(self._history[op_id])

    async def next_data(self, op_id: str) -> dict[str, Any]:
        """The data of the next ``next`` for ``op_id``; anything else fails the test."""
        message = await self.receive(op_id)
        assert message["type"] == "next", message
        payload: dict[str, Any] = message["payload"]
        assert not payload.get("errors"), payload
        data: dict[str, Any] = payload["data"]
        return data

    async def closed(self) -> tuple[int | None, str]:
        """Wait for the server to close the socket: (close code, reason)."""
        try:
            async with asyncio.timeout(WAIT):
                while True:
                    await self._read_one()
        except ServerClosed as closed:
            return closed.code, closed.reason

    async def _read(self) -> Message:
        try:
            async with asyncio.timeout(WAIT):
                raw = await self.connection.recv()
        except ConnectionClosed as error:
            code = error.rcvd.code if error.rcvd is not None else None
            reason = error.rcvd.reason if error.rcvd is not None else ""
            raise ServerClosed(code, reason) from error
        message: Message = orjson.loads(raw)
        return message

    async def _read_one(self) -> None:
        message = await self._read()
        kind = message.get("type")
        if kind == "ping":
            await self.send({"type": "pong"})
        elif kind == "pong":
            self._pongs += 1
        elif kind in ("next", "error", "complete") and isinstance(message.get("id"), str):
            self._pending[message["id"]].append(message)
            self._history[message["id"]].append(message)
        else:
            msg = f"unexpected message from the server: {message}"
            raise AssertionError(msg)
