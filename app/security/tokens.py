"""Short-lived access tokens: ES256 JWTs with a ``kid``, verified against our JWKS."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

__all__ = ["AccessTokenClaims", "InvalidTokenError", "TokenService"]

ALGORITHM = "ES256"
LEEWAY_SECONDS = 30


class InvalidTokenError(Exception):
    """The token is malformed, tampered with, expired or not ours."""


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    subject: str
    token_id: str
    expires_at: int
    scope: str


class TokenService:
    """Issues and verifies access tokens. The clock is injected so that tests can age tokens."""

    def __init__(
        self,
        key: ECKey,
        *,
        issuer: str,
        audience: str,
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._key = key
        self._keys = KeySet([key])
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds
        self._clock = clock

    @property
    def ttl_seconds(self) -> int:
        return self._ttl

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [
                k.as_dict(private=False) | {"use": "sig", "alg": ALGORITHM} for k in self._keys.keys
            ]
        }

    def issue(
        self, subject: str, *, scope: str = "", extra: Mapping[str, Any] | None = None
    ) -> str:
        now = int(self._clock())
        claims = {
            "iss": self._issuer,
            "aud": self._audience,
            "sub": subject,
            "iat": now,
            "nbf": now,
            "exp": now + self._ttl,
            "jti": secrets.token_urlsafe(16),
            "scope": scope,
            **(extra or {}),
        }
        header = {"alg": ALGORITHM, "kid": self._key.kid, "typ": "at+jwt"}
        return jwt.encode(header, claims, self._key, algorithms=[ALGORITHM])

    def verify(self, token: str) -> AccessTokenClaims:
        try:
            decoded = jwt.decode(token, self._keys, algorithms=[ALGORITHM])
            registry = jwt.JWTClaimsRegistry(
                now=int(self._clock()),
                leeway=LEEWAY_SECONDS,
                iss={"essential": True, "value": self._issuer},
                aud={"essential": True, "value": self._audience},
                sub={"essential": True},
                exp={"essential": True},
                jti={"essential": True},
            )
            registry.validate(decoded.claims)
        except (JoseError, ValueError, TypeError) as exc:
            raise InvalidTokenError(str(exc)) from exc
        if decoded.header.get("typ") != "at+jwt":
            raise InvalidTokenError("not an access token")
        claims = decoded.claims
        return AccessTokenClaims(
            subject=str(claims["sub"]),
            token_id=str(claims["jti"]),
            expires_at=int(claims["exp"]),
            scope=str(claims.get("scope", "")),
        )
