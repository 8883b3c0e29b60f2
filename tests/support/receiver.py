"""A partner's server for tests: a real HTTP endpoint on 127.0.0.1 that Agora calls.

It records every request (headers, raw body, when it began and ended) and answers as told:
``succeed`` (200 with ``answer`` as JSON), ``fail`` (500), ``hang`` (no answer until the test
ends), or ``garbage`` (200 with bytes that are not JSON). ``script`` queues modes for the next
requests, so "fail three times, then succeed" is ``receiver.script = ["fail"] * 3``.

It also dedupes the way a careful receiver does: ``processed`` holds each event id once (with
the count 1), no matter how often it arrived; ``duplicates`` counts the arrivals after the
first, per event id.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.types import Receive, Scope, Send

from app.security.signing import canonical_string, signature_of
from tests.support.served import serve_app

__all__ = ["Mode", "Received", "Receiver", "running_receiver"]

Mode = Literal["succeed", "fail", "hang", "garbage"]


@dataclass(frozen=True)
class Received:
    method: str
    path: str
    query: str
    headers: dict[str, str]
    body: bytes
    started: float
    finished: float
    answered: Mode

    def json(self) -> Any:
        return json.loads(self.body)

    def signed_by(self, secret: bytes | str, key: str = "agora") -> bool:
        """Whether the signature verifies with ``secret``, exactly as a partner would check."""
        raw = secret.encode() if isinstance(secret, str) else secret
        canonical = canonical_string(
            key=self.headers.get("x-agora-key", ""),
            timestamp=int(self.headers.get("x-agora-timestamp", "0")),
            nonce=self.headers.get("x-agora-nonce", ""),
            method=self.method,
            path=self.path,
            query=self.query,
            body=self.body,
        )
        return self.headers.get("x-agora-key") == key and signature_of(
            raw, canonical
        ) == self.headers.get("x-agora-signature")


@dataclass
class Receiver:
    url: str = ""
    mode: Mode = "succeed"
    script: list[Mode] = field(default_factory=list)
    answer: Any = field(default_factory=lambda: {"ok": True})
    status_on_failure: int = 500
    requests: list[Received] = field(default_factory=list)
    processed: dict[str, int] = field(default_factory=dict)
    duplicates: dict[str, int] = field(default_factory=dict)
    in_flight: int = 0
    _release: asyncio.Event = field(default_factory=asyncio.Event)

    def endpoint(self, path: str = "/hooks") -> str:
        return f"{self.url}{path}"

    def event_ids(self) -> list[str]:
        return [r.headers.get("x-agora-event-id", "") for r in self.requests]

    def release(self) -> None:
        """Let hanging requests go (the test is over)."""
        self._release.set()

    def _next_mode(self) -> Mode:
        return self.script.pop(0) if self.script else self.mode

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        request = Request(scope, receive)
        started = time.perf_counter()
        body = await request.body()
        mode = self._next_mode()
        self.in_flight += 1
        try:
            response: Response
            if mode == "hang":
                await self._release.wait()
                response = Response(status_code=504)
            elif mode == "fail":
                response = JSONResponse({"error": "down"}, status_code=self.status_on_failure)
            elif mode == "garbage":
                response = Response(b"\x00not json{", media_type="application/json")
            else:
                event_id = request.headers.get("x-agora-event-id")
                if event_id in self.processed:
                    self.duplicates[event_id] = self.duplicates.get(event_id, 0) + 1
                elif event_id:
                    self.processed[event_id] = 1
                response = JSONResponse(self.answer)
        finally:
            self.in_flight -= 1
        self.requests.append(
            Received(
                method=request.method,
                path=request.url.path,
                query=request.url.query,
                headers={k.lower(): v for k, v in request.headers.items()},
                body=body,
                started=started,
                finished=time.perf_counter(),
                answered=mode,
            )
        )
        await response(scope, receive, send)


@asynccontextmanager
async def running_receiver() -> AsyncIterator[Receiver]:
    receiver = Receiver()
    async with serve_app(receiver) as url:
        receiver.url = url
        try:
            yield receiver
        finally:
            receiver.release()
