"""The consent page's browser session: a signed cookie holding the user and a CSRF token.

The cookie value is ``base64url(json).base64url(hmac)``, keyed by a key derived from the
deployment secret for this purpose only, so it is tamper-evident and needs no server-side
store. It holds no personal data: a user id, a random CSRF token and an expiry. Logging in
issues a new session (a new CSRF token), so a token planted before login is worthless after.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["BrowserSession", "SessionCodec"]

_PURPOSE = b"agora oauth consent session v1"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@dataclass(frozen=True, slots=True)
class BrowserSession:
    csrf: str
    user_id: int | None
    expires_at: int

    def csrf_matches(self, submitted: str | None) -> bool:
        # Bytes, not str: compare_digest refuses non-ASCII strings, and hostile input is not ASCII.
        return submitted is not None and hmac.compare_digest(
            self.csrf.encode(), submitted.encode("utf-8", "surrogatepass")
        )


class SessionCodec:
    def __init__(
        self, secret: bytes, *, ttl_seconds: int = 1800, clock: Callable[[], float] = time.time
    ) -> None:
        self._key = hmac.new(secret, _PURPOSE, hashlib.sha256).digest()
        self._ttl = ttl_seconds
        self._clock = clock

    @property
    def ttl_seconds(self) -> int:
        return self._ttl

    def new(self, user_id: int | None = None) -> BrowserSession:
        return BrowserSession(secrets.token_urlsafe(32), user_id, int(self._clock()) + self._ttl)

    def dumps(self, session: BrowserSession) -> str:
        body = _b64(
            json.dumps({"c": session.csrf, "u": session.user_id, "e": session.expires_at}).encode()
        )
        return f"{body}.{self._sign(body)}"

    def loads(self, value: str | None) -> BrowserSession | None:
        """The session, or None when absent, tampered with or expired."""
        if not value or "." not in value:
            return None
        body, signature = value.rsplit(".", 1)
        if not hmac.compare_digest(
            signature.encode("utf-8", "surrogatepass"), self._sign(body).encode()
        ):
            return None
        try:
            data = json.loads(_unb64(body))
            session = BrowserSession(str(data["c"]), data["u"], int(data["e"]))
        except (ValueError, KeyError, TypeError):
            return None
        if session.user_id is not None and not isinstance(session.user_id, int):
            return None
        return session if session.expires_at > self._clock() else None

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self._key, body.encode(), hashlib.sha256).digest())
