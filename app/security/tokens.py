"""Short-lived access tokens: RFC 9068 ES256 JWTs with a ``kid``, verified against our JWKS.

Verification accepts only ES256 with a ``kid`` naming one of our keys (so ``alg: none``, an HMAC
token keyed with a public key's bytes, or a stranger's key never verify), checks ``iss``,
``aud``, ``exp`` and ``nbf`` with a small leeway, and, for ``verify_active``, the ``jti``
denylist that revocation writes to shared state (Redis when configured), so a revoked token is
refused by every worker.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, KeySet

from app.security.keys import SigningKeys
from app.security.principal import Principal
from app.sharedstate import SharedState

__all__ = [
    "LEEWAY_SECONDS",
    "AccessTokenClaims",
    "InvalidTokenError",
    "IssuedAccessToken",
    "TokenDenylist",
    "TokenService",
]

ALGORITHM = "ES256"
LEEWAY_SECONDS = 30  # at most 60: clocks of well-run hosts agree far better than that


class InvalidTokenError(Exception):
    """The token is malformed, tampered with, expired or not ours."""


@dataclass(frozen=True, slots=True)
class AccessTokenClaims:
    subject: str
    token_id: str
    expires_at: int
    scope: str
    client_id: str | None = None
    shop_id: int | None = None

    def principal(self) -> Principal:
        """The caller these claims name, as every request path sees it."""
        return Principal(
            subject=self.subject,
            token_id=self.token_id,
            scope=frozenset(self.scope.split()),
            shop_id=self.shop_id,
        )


@dataclass(frozen=True, slots=True)
class IssuedAccessToken:
    token: str
    token_id: str
    expires_at: int


class TokenDenylist:
    """Revoked ``jti`` values, remembered in shared state until the token would expire anyway."""

    def __init__(self, shared: SharedState, clock: Callable[[], float] = time.time) -> None:
        self._shared = shared
        self._clock = clock

    @staticmethod
    def _key(token_id: str) -> str:
        return f"jwt-denied:{token_id}"

    async def revoke(self, token_id: str, expires_at: int) -> None:
        ttl = max(1, int(expires_at - self._clock()) + LEEWAY_SECONDS + 1)
        await self._shared.claim(self._key(token_id), ttl)

    async def is_revoked(self, token_id: str) -> bool:
        return await self._shared.contains(self._key(token_id))


class TokenService:
    """Issues and verifies access tokens. The clock is injected so that tests can age tokens."""

    def __init__(
        self,
        keys: ECKey | SigningKeys,
        *,
        issuer: str,
        audience: str,
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
        denylist: TokenDenylist | None = None,
    ) -> None:
        signing = keys if isinstance(keys, SigningKeys) else SigningKeys(keys)
        self._key = signing.current
        # The previous key verifies tokens signed before a rotation until they expire.
        self._keys = KeySet(signing.all)
        self._kids = frozenset(k.kid for k in signing.all)
        self._denylist = denylist
        self._issuer = issuer
        self._audience = audience
        self._ttl = ttl_seconds
        self._clock = clock

    @property
    def ttl_seconds(self) -> int:
        return self._ttl

    @property
    def issuer(self) -> str:
        return self._issuer

    @property
    def denylist(self) -> TokenDenylist:
        if self._denylist is None:
            raise RuntimeError("no token denylist is wired; revocation needs one")
        return self._denylist

    def attach_denylist(self, denylist: TokenDenylist) -> None:
        """Wired once by the composition root, where shared state is built."""
        self._denylist = denylist

    def jwks(self) -> dict[str, Any]:
        return {
            "keys": [
                k.as_dict(private=False) | {"use": "sig", "alg": ALGORITHM} for k in self._keys.keys
            ]
        }

    def issue(
        self, subject: str, *, scope: str = "", extra: Mapping[str, Any] | None = None
    ) -> str:
        return self.mint(subject, scope=scope, extra=extra).token

    def mint(
        self, subject: str, *, scope: str = "", extra: Mapping[str, Any] | None = None
    ) -> IssuedAccessToken:
        """A signed token and the ``jti``/``exp`` a caller records to revoke it later."""
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
        token = jwt.encode(header, claims, self._key, algorithms=[ALGORITHM])
        return IssuedAccessToken(token, str(claims["jti"]), int(claims["exp"]))

    async def verify_active(self, token: str) -> AccessTokenClaims:
        """``verify``, and refused when its ``jti`` was revoked."""
        claims = self.verify(token)
        if await self.denylist.is_revoked(claims.token_id):
            raise InvalidTokenError("the token was revoked")
        return claims

    def verify(self, token: str) -> AccessTokenClaims:
        try:
            decoded = jwt.decode(token, self._keys, algorithms=[ALGORITHM])
            if decoded.header.get("kid") not in self._kids:
                # With several keys, a token without a kid must not be tried against each.
                raise InvalidTokenError("unknown or missing key id")
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
        shop = claims.get("shop")
        client_id = claims.get("client_id")
        return AccessTokenClaims(
            subject=str(claims["sub"]),
            token_id=str(claims["jti"]),
            expires_at=int(claims["exp"]),
            scope=str(claims.get("scope", "")),
            client_id=str(client_id) if client_id is not None else None,
            shop_id=int(shop) if isinstance(shop, int) else None,
        )
