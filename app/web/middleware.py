"""Pure ASGI middleware, outermost first: request id and last-resort errors, body limit,
authentication. Content negotiation lives in the GraphQL view (``schema.view``)."""

from __future__ import annotations

import logging
import re
import uuid

from starlette.datastructures import Headers
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.security.principal import Principal
from app.security.signing import HEADERS as SIGNATURE_HEADERS
from app.security.signing import SignatureError, SignatureVerifier
from app.security.tokens import InvalidTokenError, TokenService
from app.web.responses import send_error

__all__ = ["Authentication", "BodyLimit", "RequestContext"]

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
    """Turns a bearer token or a request signature into a ``Principal`` in ``scope['state']``.

    No Authorization header and no X-Agora-* signing header means anonymous. A credential that
    is present but wrong (malformed, tampered, expired, another scheme, a replayed nonce) is
    refused outright with 401 rather than silently treated as anonymous, so a client never
    mistakes an expired session for a logged-out one. A bearer token wins over signing headers.

    A signed request's body is read whole (BodyLimit, outside, has already capped it), verified
    as raw bytes, and then replayed unchanged to the app.
    """

    # The OAuth endpoints authenticate the client from the Authorization header themselves.
    CLIENT_AUTH_PATHS = frozenset({"/oauth/token", "/oauth/revoke", "/oauth/introspect"})
    # Webhooks are signed by their senders' own secrets (Stripe, carriers) and checked there.
    SELF_VERIFYING_PREFIX = "/webhooks/"

    def __init__(
        self, app: ASGIApp, tokens: TokenService, signatures: SignatureVerifier | None = None
    ) -> None:
        self.app = app
        self.tokens = tokens
        self.signatures = signatures

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"].startswith(self.SELF_VERIFYING_PREFIX):
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        header = headers.get("authorization")
        principal = None
        if header is not None and scope["path"] not in self.CLIENT_AUTH_PATHS:
            scheme, _, token = header.partition(" ")
            try:
                if scheme.lower() != "bearer" or not token.strip():
                    raise InvalidTokenError("expected a Bearer token")
                claims = await self.tokens.verify_active(token.strip())
            except InvalidTokenError:
                await send_error(
                    send,
                    401,
                    "UNAUTHENTICATED",
                    "The access token is invalid or expired.",
                    {"www-authenticate": 'Bearer error="invalid_token"'},
                )
                return
            principal = claims.principal()
        elif self.signatures is not None and any(name in headers for name in SIGNATURE_HEADERS):
            body = await self._read_body(receive)
            try:
                verified = await self.signatures.verify(
                    method=scope["method"],
                    path=self._raw_path(scope),
                    query=scope.get("query_string", b"").decode("latin-1"),
                    body=body,
                    headers=headers,
                )
            except SignatureError as refusal:
                await send_error(send, 401, refusal.code.value, refusal.message)
                return
            principal = Principal(
                subject=f"app:{verified.key}",
                token_id=verified.nonce,
                scope=verified.signer.scopes,
            )
            receive = self._replaying(body, receive)
        _state(scope)["principal"] = principal
        await self.app(scope, receive, send)

    @staticmethod
    def _raw_path(scope: Scope) -> str:
        """The path as sent: ``%2F`` must not turn into ``/`` before it is signed over."""
        raw = scope.get("raw_path")
        if not raw:
            return str(scope["path"])
        return bytes(raw).split(b"?", 1)[0].decode("latin-1")

    @staticmethod
    async def _read_body(receive: Receive) -> bytes:
        chunks = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                break
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        return b"".join(chunks)

    @staticmethod
    def _replaying(body: bytes, receive: Receive) -> Receive:
        """The body once, as one message; then the real channel (for disconnects)."""
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": body, "more_body": False}

        return replay
