"""The authorization server's entry points, async, for any web framework to call.

Each call loads a snapshot (async, reader session), runs authlib in a worker thread with
``anyio.to_thread`` (authlib is synchronous and signs JWTs: neither belongs on the event
loop), then applies the recorded effects (async, one writer transaction). Revoked ``jti``s go
to the shared denylist inside that transaction, before it commits: if the commit fails, a
token is over-revoked, never left usable.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import anyio.to_thread
from authlib.oauth2.rfc6749 import InvalidGrantError, OAuth2Error
from authlib.oauth2.rfc6749.errors import InvalidClientError
from sqlalchemy.ext.asyncio import AsyncSession

from app.db import Database
from app.security.oauth.exchange import Exchange
from app.security.oauth.records import Installation
from app.security.oauth.requests import OAuthCall
from app.security.oauth.scopes import parse_scope
from app.security.oauth.server import AgoraAuthorizationServer, OAuthConfig, OAuthResponse
from app.security.oauth.store import apply_effects, load_snapshot

__all__ = ["ConsentRequest", "GrantHook", "OAuthService"]

Action = Callable[[AgoraAuthorizationServer], OAuthResponse]


@dataclass(frozen=True, slots=True)
class ConsentRequest:
    """A valid authorization request, ready to be shown to the user for approval."""

    client_id: str
    client_name: str
    scopes: list[str]
    redirect_uri: str


def _error(error: OAuth2Error) -> OAuthResponse:
    status, body, headers = error()
    return OAuthResponse(status, body, [(str(k), str(v)) for k, v in headers])


GrantHook = Callable[[AsyncSession, str, int, list[str]], Awaitable[None]]
"""Told, inside the token transaction, that a client redeemed a code for a shop: (session,
client_id, shop_id, scopes). The marketplace activates the installation there."""


class OAuthService:
    def __init__(
        self,
        db: Database,
        config: OAuthConfig,
        clock: Callable[[], datetime],
        on_install: GrantHook | None = None,
    ) -> None:
        self._db = db
        self._config = config
        self._clock = clock
        self._on_install = on_install

    async def token(self, call: OAuthCall) -> OAuthResponse:
        return await self._run(call, lambda server: server.create_token_response(call))

    async def revoke(self, call: OAuthCall) -> OAuthResponse:
        return await self._run(
            call, lambda server: server.create_endpoint_response("revocation", call)
        )

    async def introspect(self, call: OAuthCall) -> OAuthResponse:
        return await self._run(
            call, lambda server: server.create_endpoint_response("introspection", call)
        )

    async def review(self, call: OAuthCall) -> ConsentRequest | OAuthResponse:
        """Validate an authorization request (client, exact redirect_uri, scopes, PKCE).

        An error that may go back to the client is a redirect; one that may not (unknown
        client, unregistered redirect_uri) is a response without a Location.
        """
        exchange = await self._load(call)

        def validate(server: AgoraAuthorizationServer) -> ConsentRequest | OAuthResponse:
            try:
                grant = server.get_consent_grant(call)
            except OAuth2Error as error:
                return server.handle_error_response(None, error)  # type: ignore[no-any-return]
            client = grant.client
            return ConsentRequest(
                client.client_id,
                client.name,
                parse_scope(grant.request.scope),
                grant.redirect_uri,
            )

        return await anyio.to_thread.run_sync(self._guarded, validate, exchange)

    async def decide(self, call: OAuthCall, user_id: int, shop_id: int | None) -> OAuthResponse:
        """The user's decision: a code for ``shop_id``, or ``access_denied`` when None."""
        installation = (
            Installation(user_id, shop_id, secrets.token_hex(16)) if shop_id is not None else None
        )

        def respond(server: AgoraAuthorizationServer) -> OAuthResponse:
            grant = server.get_consent_grant(call, end_user=installation)
            return server.create_authorization_response(  # type: ignore[no-any-return]
                grant.request, grant_user=installation, grant=grant
            )

        return await self._run(call, respond)

    async def _load(self, call: OAuthCall) -> Exchange:
        now = self._clock()
        async with self._db.reader() as session:
            return Exchange(await load_snapshot(session, call, self._config.tokens, now))

    def _guarded(
        self, action: Callable[[AgoraAuthorizationServer], object], exchange: Exchange
    ) -> object:
        """Runs in the worker thread. Errors raised before authlib's own handling (such as an
        insecure issuer URL) still become OAuth error responses."""
        server = AgoraAuthorizationServer(self._config, exchange)
        try:
            return action(server)
        except OAuth2Error as error:
            return _error(error)
        except ValueError:  # undecodable client credentials (authlib parses them as ASCII)
            return _error(InvalidClientError())

    async def _run(self, call: OAuthCall, action: Action) -> OAuthResponse:
        exchange = await self._load(call)
        response = await anyio.to_thread.run_sync(self._guarded, action, exchange)
        async with self._db.writer() as session, session.begin():
            applied = await apply_effects(
                session,
                exchange,
                code_ttl=timedelta(seconds=self._config.code_ttl_seconds),
                refresh_ttl=timedelta(seconds=self._config.refresh_ttl_seconds),
            )
            for token_id, expires_at in applied.denied_tokens:
                await self._config.tokens.denylist.revoke(token_id, expires_at)
            issued = exchange.effects.issued
            redeemed = exchange.effects.consumed_code
            if (
                self._on_install is not None
                and not applied.refused
                and redeemed is not None
                and issued is not None
                and issued.installation is not None
            ):
                await self._on_install(
                    session,
                    issued.client_id,
                    issued.installation.shop_id,
                    parse_scope(issued.scope),
                )
        if applied.refused:
            return _error(InvalidGrantError("The grant was already used."))
        return response  # type: ignore[return-value]
