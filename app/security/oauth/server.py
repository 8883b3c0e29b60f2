"""authlib's ``AuthorizationServer``, adapted to Agora: one instance per request.

A server instance holds the request's ``Exchange`` (the rows authlib may read, the effects it
records), so it is built per request; registering three grants and two endpoints is a few
list appends. It never touches the database or the event loop and is meant to run in a worker
thread (``service.py`` does that).

Access tokens are RFC 9068 JWTs from ``TokenService`` (``typ: at+jwt``, ``kid``, ``iss``,
``aud``, ``exp``, ``scope``, ``client_id``, and ``shop`` for install tokens) that live for the
configured access-token TTL (at most an hour), not authlib's default of ten days.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from typing import Any

from authlib.oauth2.rfc6749 import AuthorizationServer, OAuth2Request
from authlib.oauth2.rfc6750 import BearerTokenGenerator

from app.security.oauth.endpoints import Introspection, Revocation
from app.security.oauth.exchange import Exchange, IssuedGrant
from app.security.oauth.grants import (
    AuthorizationCodeGrant,
    ClientCredentialsGrant,
    RefreshTokenGrant,
    S256CodeChallenge,
)
from app.security.oauth.records import ClientRecord, Installation
from app.security.oauth.requests import AgoraOAuth2Request, OAuthCall
from app.security.oauth.scopes import SCOPES
from app.security.tokens import TokenService

__all__ = ["CODE_TTL_SECONDS", "AgoraAuthorizationServer", "OAuthConfig", "OAuthResponse"]

# RFC 6749 recommends at most ten minutes; a code is normally redeemed within seconds.
CODE_TTL_SECONDS = 300


@dataclass(frozen=True, slots=True)
class OAuthConfig:
    tokens: TokenService
    refresh_ttl_seconds: int
    code_ttl_seconds: int = CODE_TTL_SECONDS


@dataclass(frozen=True, slots=True)
class OAuthResponse:
    """What to send: a JSON body (a dict) or an empty body with a Location header."""

    status: int
    body: dict[str, Any] | str
    headers: list[tuple[str, str]] = field(default_factory=list)

    @property
    def location(self) -> str | None:
        return next((v for k, v in self.headers if k.lower() == "location"), None)


class AgoraAuthorizationServer(AuthorizationServer):
    def __init__(self, config: OAuthConfig, exchange: Exchange) -> None:
        super().__init__(scopes_supported=list(SCOPES))
        self.config = config
        self.exchange = exchange
        self.register_token_generator(
            "default",
            BearerTokenGenerator(
                self._access_token, self._refresh_token, lambda _c, _g: config.tokens.ttl_seconds
            ),
        )
        self.register_grant(ClientCredentialsGrant)
        self.register_grant(AuthorizationCodeGrant, [S256CodeChallenge()])
        self.register_grant(RefreshTokenGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(Introspection)

    def query_client(self, client_id: str) -> ClientRecord | None:
        client = self.exchange.snapshot.clients.get(client_id)
        return client if client is not None and client.active else None

    def create_oauth2_request(self, request: OAuthCall | OAuth2Request) -> OAuth2Request:
        return request if isinstance(request, OAuth2Request) else AgoraOAuth2Request(request)

    def handle_response(self, status: int, body: Any, headers: Any) -> OAuthResponse:
        return OAuthResponse(status, body, [(str(k), str(v)) for k, v in headers])

    def send_signal(self, name: str, *args: Any, **kwargs: Any) -> None:
        """Agora has no signal bus; effects are recorded by the grants themselves."""

    def save_token(self, token: dict[str, Any], request: OAuth2Request) -> None:
        minted = self.exchange.effects.minted
        assert minted is not None, "the token generator ran before save_token"
        user = request.user
        self.exchange.effects.issued = IssuedGrant(
            client_id=request.client.client_id,
            scope=str(token.get("scope", "")),
            access=minted,
            installation=user if isinstance(user, Installation) else None,
            refresh_token=token.get("refresh_token"),
        )

    def _access_token(
        self, client: ClientRecord, grant_type: str, user: Installation | None, scope: str
    ) -> str:
        extra: dict[str, Any] = {"client_id": client.client_id}
        if user is not None:
            extra["shop"] = user.shop_id
        minted = self.config.tokens.mint(f"app:{client.client_id}", scope=scope, extra=extra)
        self.exchange.effects.minted = minted
        return minted.token

    @staticmethod
    def _refresh_token(**_: Any) -> str:
        return secrets.token_urlsafe(32)
