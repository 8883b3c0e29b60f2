"""A Stripe-compatible test server for Connect, which localstripe lacks: accounts and transfers.

Served on 127.0.0.1 inside the test's event loop (``start_stripe_connect``), driven by the real
stripe SDK. It speaks the v1 wire format and checks it: a bearer ``sk_test_`` key, form-encoded
POST bodies (``metadata[agora_statement]=7`` nested as Stripe nests them), no unknown
parameters, Stripe's JSON error shape, and 404 ``Unrecognized request URL`` for anything else.

Endpoints: ``POST /v1/accounts``, ``GET /v1/accounts/{id}``, ``POST /v1/transfers``,
``GET /v1/transfers/{id}``, ``GET /v1/transfers`` (``transfer_group``, ``destination``,
``limit``, ``starting_after``; newest first) and ``POST /v1/transfers/{id}/reversals``.

**Idempotency** as Stripe does it, per API key: a POST's ``Idempotency-Key`` seen with the same
method, path and parameters replays the first response (header ``Idempotent-Replayed: true``);
with anything else it is a 400 ``idempotency_error``; while the first request still runs, a 409.
Only requests that executed are saved (validation errors and injected faults are not). Keys are
forgotten ``key_ttl`` seconds after first use, on the server's own clock, which tests move with
``advance`` (no sleeping).

**Faults**, counted per method and path from the moment they are set: ``fail(n)`` answers the
n-th matching call with an error instead of executing it; ``time_out(n)`` executes the n-th
call (the transfer is made and its key saved) and then holds the response until the client has
given up (``release`` or the server's exit lets it go).

Webhooks: ``event`` builds a ``transfer.*`` event for a transfer as held now, ``deliver`` POSTs
it signed with an endpoint secret (``Stripe-Signature``), as Stripe would.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import parse_qsl

import anyio
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from tests.support.localstripe import sign_stripe_event
from tests.support.served import serve_app
from tests.support.stripe_connect_resources import ApiError, Resources, nest

__all__ = ["API_KEY", "DAY", "Call", "ConnectServer", "start_stripe_connect"]

API_KEY = "sk_test_connect"
API_VERSION = "2025-09-30.clover"
DAY = 86_400.0
FORM = "application/x-www-form-urlencoded"


@dataclass
class Fault:
    method: str
    path: str
    skip: int  # matching calls let through before it applies
    times: int
    kind: Literal["error", "timeout"]
    status: int = 500
    body: dict[str, Any] = field(default_factory=dict)


@dataclass
class Saved:
    fingerprint: tuple[Any, ...]
    saved_at: float
    status: int = 0  # 0: the first request is still running
    body: bytes = b""


@dataclass(frozen=True)
class Call:
    """One request as the server received it."""

    method: str
    path: str
    params: dict[str, Any]
    idempotency_key: str | None
    content_type: str | None
    status: int
    replayed: bool


class ConnectServer:
    def __init__(
        self, *, key_ttl: float = DAY, clock: Callable[[], float] | None = None, hang: float = 30.0
    ) -> None:
        self.key_ttl = key_ttl
        self.hang = hang
        self.base_url = ""
        self._offset = 0.0
        self._clock = clock
        self.resources = Resources(self.now)
        self.calls: list[Call] = []
        self._saved: dict[tuple[str, str], Saved] = {}
        self._faults: list[Fault] = []
        self._released: anyio.Event | None = None

    # -- the clock, faults and inspection -------------------------------------------------
    def now(self) -> float:
        return self._clock() if self._clock else time.time() + self._offset

    def advance(self, seconds: float) -> None:
        if self._clock is not None:
            raise RuntimeError("the injected clock moves the server's time")
        self._offset += seconds

    def fail(
        self,
        nth: int = 1,
        *,
        method: str = "POST",
        path: str = "/v1/transfers",
        status: int = 500,
        error_type: str = "api_error",
        code: str | None = None,
        message: str = "An unknown error occurred",
        times: int = 1,
    ) -> None:
        """Answer the nth matching call from now (and ``times - 1`` more) with an error."""
        body = {"type": error_type, "message": message, **({"code": code} if code else {})}
        self._faults.append(Fault(method, path, nth - 1, times, "error", status, {"error": body}))

    def time_out(
        self, nth: int = 1, *, method: str = "POST", path: str = "/v1/transfers", times: int = 1
    ) -> None:
        """Execute the nth matching call from now, then hold its response past any timeout."""
        self._faults.append(Fault(method, path, nth - 1, times, "timeout"))

    def release(self) -> None:
        """Let every held response go (the clients gave up long ago)."""
        if self._released is not None:
            self._released.set()
            self._released = None

    def reset(self) -> None:
        """No faults, no held responses, the server's clock at the wall clock."""
        self._faults.clear()
        self.release()
        self._offset = 0.0

    def calls_to(self, method: str, path: str) -> list[Call]:
        return [c for c in self.calls if (c.method, c.path) == (method, path)]

    def transfers_in(self, group: str) -> list[dict[str, Any]]:
        return [t for t in self.transfers.values() if t["transfer_group"] == group]

    @property
    def accounts(self) -> dict[str, dict[str, Any]]:
        return self.resources.accounts

    @property
    def transfers(self) -> dict[str, dict[str, Any]]:
        """Every transfer made, in creation order."""
        return self.resources.transfers

    # -- webhooks -----------------------------------------------------------------------------
    def event(self, kind: str, transfer_id: str) -> bytes:
        """A ``transfer.*`` event carrying the transfer as the server holds it now."""
        body = {
            "id": self.resources.new_id("evt"),
            "object": "event",
            "api_version": API_VERSION,
            "created": int(self.now()),
            "livemode": False,
            "pending_webhooks": 1,
            "request": {"id": None, "idempotency_key": None},
            "type": kind,
            "data": {"object": self.transfers[transfer_id]},
        }
        return json.dumps(body).encode()

    async def deliver(
        self, url: str, payload: bytes, secret: str, *, signature: str | None = None
    ) -> httpx.Response:
        headers = {
            "content-type": "application/json; charset=utf-8",
            "stripe-signature": signature or sign_stripe_event(payload, secret),
        }
        async with httpx.AsyncClient(trust_env=False, timeout=10.0) as http:
            return await http.post(url, content=payload, headers=headers)

    # -- the HTTP side ----------------------------------------------------------------------------
    def _fault(self, method: str, path: str) -> Fault | None:
        hit = None
        for fault in self._faults:
            if (fault.method, fault.path) != (method, path):
                continue
            if fault.skip > 0:
                fault.skip -= 1
            elif fault.times > 0 and hit is None:
                fault.times -= 1
                hit = fault
        self._faults = [f for f in self._faults if f.times > 0]
        return hit

    def _remembered(self, scope: tuple[str, str]) -> Saved | None:
        saved = self._saved.get(scope)
        if saved is not None and self.now() - saved.saved_at >= self.key_ttl:
            del self._saved[scope]  # forgotten, as Stripe forgets keys after a day
            return None
        return saved

    async def _hold(self) -> None:
        if self._released is None:
            self._released = anyio.Event()
        with anyio.move_on_after(self.hang):
            await self._released.wait()

    async def handle(self, request: Request) -> Response:
        method, path = request.method, request.url.path
        ctype = request.headers.get("content-type")
        key = request.headers.get("idempotency-key") if method == "POST" else None
        params: dict[str, Any] = {}
        replayed = False
        try:
            status, body, fault, replayed = await self._answer(
                request, method, path, ctype, key, params
            )
        except ApiError as error:
            status, body, fault = error.status, json.dumps(error.body).encode(), None
        self.calls.append(Call(method, path, params, key, ctype, status, replayed))
        if fault is not None and fault.kind == "timeout":
            await self._hold()
        headers = {"request-id": self.resources.new_id("req")}
        if replayed:
            headers["idempotent-replayed"] = "true"
        return Response(body, status, headers, media_type="application/json")

    async def _answer(
        self,
        request: Request,
        method: str,
        path: str,
        ctype: str | None,
        key: str | None,
        params: dict[str, Any],
    ) -> tuple[int, bytes, Fault | None, bool]:
        bearer = request.headers.get("authorization", "")
        if not bearer.startswith("Bearer sk_test_"):
            raise ApiError(401, "Invalid API Key provided.")
        route = next(
            ((h, m) for v, p, h in Resources.ROUTES if v == method and (m := p.fullmatch(path))),
            None,
        )
        if route is None:
            raise ApiError(404, f"Unrecognized request URL ({method}: {path}).")
        raw = await request.body()
        if method == "POST" and raw and (ctype or "").split(";")[0].strip() != FORM:
            raise ApiError(400, f"Invalid request: Content-Type must be {FORM}, not {ctype}.")
        pairs = parse_qsl(
            raw.decode() if method == "POST" else request.url.query, keep_blank_values=True
        )
        params.update(nest(pairs))
        fault = self._fault(method, path)
        if fault is not None and fault.kind == "error":
            return fault.status, json.dumps(fault.body).encode(), None, False
        scope = (bearer, key or "")
        fingerprint = (method, path, tuple(sorted(pairs)))
        if key:
            saved = self._remembered(scope)
            if saved is not None and saved.fingerprint != fingerprint:
                raise ApiError(
                    400,
                    "Keys for idempotent requests can only be used with the same parameters they "
                    f"were first used with. Try using a key other than '{key}' if you meant to "
                    "execute a different request.",
                    type="idempotency_error",
                )
            if saved is not None and not saved.status:
                raise ApiError(
                    409,
                    "There is currently another in-progress request using this idempotent key.",
                    code="idempotency_key_in_use",
                )
            if saved is not None:
                return saved.status, saved.body, fault, True
            self._saved[scope] = Saved(fingerprint, self.now())
        handler, match = route
        try:
            result = getattr(self.resources, handler)(
                params, match.group(1) if match.groups() else ""
            )
        except ApiError:
            if key:
                del self._saved[scope]  # it did not execute: nothing is remembered
            raise
        body = json.dumps(result).encode()
        if key:
            self._saved[scope].status, self._saved[scope].body = 200, body
        return 200, body, fault, False

    def asgi(self) -> Starlette:
        verbs = ["GET", "POST", "PUT", "PATCH", "DELETE"]
        return Starlette(routes=[Route("/{path:path}", self.handle, methods=verbs)])


@asynccontextmanager
async def start_stripe_connect(
    *, key_ttl: float = DAY, clock: Callable[[], float] | None = None
) -> AsyncIterator[ConnectServer]:
    """The server on a free port of 127.0.0.1 until exit; ``server.base_url`` is its address."""
    server = ConnectServer(key_ttl=key_ttl, clock=clock)
    async with serve_app(server.asgi()) as base:
        server.base_url = base
        try:
            yield server
        finally:
            server.release()
