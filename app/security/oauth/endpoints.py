"""RFC 7009 revocation and RFC 7662 introspection, answered from the request's snapshot.

Both authenticate the client and only ever act on that client's own tokens. A token of
another client is treated as unknown: revocation answers 200 and changes nothing, and
introspection answers ``{"active": false}``, so neither reveals that the token exists.
"""

from __future__ import annotations

from typing import Any

from authlib.oauth2.rfc6749 import OAuth2Request
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7662 import IntrospectionEndpoint

from app.security.oauth.exchange import Exchange
from app.security.oauth.records import AUTH_METHODS, AccessRecord, ClientRecord, RefreshRecord

__all__ = ["Introspection", "Revocation"]

Token = AccessRecord | RefreshRecord


def _find(exchange: Exchange, token: str, hint: str | None) -> Token | None:
    access = exchange.snapshot.access_tokens.get(token)
    refresh = exchange.snapshot.refresh_tokens.get(token)
    if hint == "refresh_token":
        return refresh or access
    return access or refresh


class Revocation(RevocationEndpoint):
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return _find(self.server.exchange, token_string, token_type_hint)

    def authenticate_token(self, request: OAuth2Request, client: ClientRecord) -> Token | None:
        self.check_params(request, client)
        token = self.query_token(request.form["token"], request.form.get("token_type_hint"))
        return token if token is not None and token.check_client(client) else None

    def revoke_token(self, token: Token, request: OAuth2Request) -> None:
        effects = self.server.exchange.effects
        if isinstance(token, AccessRecord):
            effects.revoked_tokens.append((token.claims.token_id, token.claims.expires_at))
        else:
            # A refresh token ends its whole grant, access tokens included (RFC 7009 2.1).
            effects.revoked_families.append(token.family_id)


class Introspection(IntrospectionEndpoint):
    CLIENT_AUTH_METHODS = list(AUTH_METHODS)

    def query_token(self, token_string: str, token_type_hint: str | None) -> Token | None:
        return _find(self.server.exchange, token_string, token_type_hint)

    def check_permission(self, token: Token, client: ClientRecord, request: Any) -> bool:
        return token.check_client(client)

    def introspect_token(self, token: Token) -> dict[str, Any]:
        issuer = self.server.config.tokens.issuer
        if isinstance(token, AccessRecord):
            claims = token.claims
            payload: dict[str, Any] = {
                "active": True,
                "token_type": "access_token",
                "client_id": claims.client_id,
                "scope": claims.scope,
                "sub": claims.subject,
                "exp": claims.expires_at,
                "jti": claims.token_id,
                "iss": issuer,
                "aud": issuer,
            }
            if claims.shop_id is not None:
                payload["shop"] = claims.shop_id
            return payload
        payload = {
            "active": True,
            "token_type": "refresh_token",
            "client_id": token.client_id,
            "scope": token.scope,
            "sub": f"app:{token.client_id}",
            "exp": token.expires_at,
            "iss": issuer,
        }
        if token.shop_id is not None:
            payload["shop"] = token.shop_id
        return payload
