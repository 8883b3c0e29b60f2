"""Pure ASGI middleware, outermost first: request id and last-resort errors, body limit,
authentication, content negotiation."""

from __future__ import annotations

import logging
import re
import uuid

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.security.principal import Principal
from app.security.tokens import InvalidTokenError, TokenService
from app.web.responses import send_error

__all__ = ["AcceptGuard", "Authentication", "BodyLimit", "RequestContext"]

log = logging.getLogger("agora.http")
_SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{8,64}$")


def _state(scope: Scope) -> dict[str, object]:
    return scope.setdefault("state", {})  # type: ignore[no-any-return]


class RequestContext:
    """Gives each request an id (the caller's X-Request-ID if sane) and masks crashes.

    A crash that escapes everything else is logged with its trace and answered with a masked
    INTERNAL error naming the request id, never with a trace.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = Headers(scope=scope).get("x-request-id", "")
        request_id = given if _SAFE_REQUEST_ID.match(given) else uuid.uuid4().hex
        _state(scope)["request_id"] = request_id
        started = False

        async def send_with_id(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                message.setdefault("headers", [])
                message["headers"] = [*message["headers"], (b"x-request-id", request_id.encode())]
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("unhandled error", extra={"request_id": request_id})
            if not started:
                await send_error(
                    send,
                    500,
                    "INTERNAL",
                    "Internal server error.",
                    {"x-request-id": request_id},
                    requestId=request_id,
                )


class _TooLargeError(Exception):
    pass


class BodyLimit:
    """413 for a body over the limit, by Content-Length or while streaming without one."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app = app
        self.max_bytes = max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.max_bytes):
            await self._refuse(send)
            return
        received = 0
        started = False

        async def counted_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_bytes:
                    raise _TooLargeError
            return message

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted_receive, tracking_send)
        except _TooLargeError:
            if not started:
                await self._refuse(send)

    async def _refuse(self, send: Send) -> None:
        await send_error(
            send,
            413,
            "PAYLOAD_TOO_LARGE",
            f"The request body is over {self.max_bytes} bytes.",
            maximum=self.max_bytes,
        )


class Authentication:
    """Turns a bearer token into a ``Principal`` in ``scope['state']``.

    No Authorization header means anonymous. A header that is present but wrong (malformed,
    tampered, expired, another scheme) is refused outright with 401 rather than silently
    treated as anonymous, so a client never mistakes an expired session for a logged-out one.
    """

    def __init__(self, app: ASGIApp, tokens: TokenService) -> None:
        self.app = app
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        header = Headers(scope=scope).get("authorization")
        principal = None
        if header is not None:
            scheme, _, token = header.partition(" ")
            try:
                if scheme.lower() != "bearer" or not token.strip():
                    raise InvalidTokenError("expected a Bearer token")
                claims = self.tokens.verify(token.strip())
            except InvalidTokenError:
                await send_error(
                    send,
                    401,
                    "UNAUTHENTICATED",
                    "The access token is invalid or expired.",
                    {"www-authenticate": 'Bearer error="invalid_token"'},
                )
                return
            principal = Principal(
                subject=claims.subject,
                token_id=claims.token_id,
                scope=frozenset(claims.scope.split()),
            )
        _state(scope)["principal"] = principal
        await self.app(scope, receive, send)


_ACCEPTABLE = ("application/json", "application/graphql-response+json", "application/*", "*/*")


class AcceptGuard:
    """406 when a GraphQL POST accepts none of the media types Agora answers in."""

    def __init__(self, app: ASGIApp, path: str) -> None:
        self.app = app
        self.path = path

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] == self.path and scope["method"] == "POST":
            accept = Headers(scope=scope).get("accept")
            if accept and not any(
                part.split(";")[0].strip().lower() in _ACCEPTABLE for part in accept.split(",")
            ):
                await send_error(
                    send,
                    406,
                    "NOT_ACCEPTABLE",
                    "Accept application/json or application/graphql-response+json.",
                )
                return
        await self.app(scope, receive, send)
