"""authlib's grants, told where Agora keeps things and made stricter where Agora is.

- authorization codes are single use; presenting a used one revokes its grant family;
- PKCE is required for every code and only S256 is accepted (authlib also accepts ``plain``
  and treats PKCE as optional for confidential clients);
- refresh tokens rotate; replaying a rotated one revokes its family.

Nothing here does I/O: rows come from the request's ``Snapshot`` and decisions go into its
``Effects`` (see ``exchange.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from authlib.oauth2.rfc6749 import InvalidRequestError, grants
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc7636.challenge import compare_s256_code_challenge

from app.security.oauth.exchange import Exchange, NewCode
from app.security.oauth.records import AUTH_METHODS, CodeRecord, Installation, RefreshRecord

if TYPE_CHECKING:
    from authlib.oauth2.rfc6749 import OAuth2Request

__all__ = [
    "AuthorizationCodeGrant",
    "ClientCredentialsGrant",
    "RefreshTokenGrant",
    "S256CodeChallenge",
]

S256 = "S256"


def _exchange(grant: grants.BaseGrant) -> Exchange:
    return grant.server.exchange  # type: ignore[no-any-return]


class S256CodeChallenge(CodeChallenge):
    """PKCE, S256 only, on every authorization request and every code exchange."""

    DEFAULT_CODE_CHALLENGE_METHOD = S256
    SUPPORTED_CODE_CHALLENGE_METHOD = [S256]
    CODE_CHALLENGE_METHODS = {S256: compare_s256_code_challenge}

    def __init__(self) -> None:
        super().__init__(required=True)

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge"):
            raise InvalidRequestError("PKCE is required: send 'code_challenge'.")
        # RFC 7636 makes a missing method mean "plain", which Agora refuses.
        if data.get("code_challenge_method") != S256:
            raise InvalidRequestError("Only 'code_challenge_method=S256' is supported.")
        super().validate_code_challenge(grant, redirect_uri)

    def validate_code_verifier(self, grant: Any, result: Any) -> None:
        if not grant.request.form.get("code_verifier"):
            raise InvalidRequestError("Missing 'code_verifier'.")
        super().validate_code_verifier(grant, result)


class ClientCredentialsGrant(grants.ClientCredentialsGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)


class AuthorizationCodeGrant(grants.AuthorizationCodeGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)

    def save_authorization_code(self, code: str, request: OAuth2Request) -> None:
        data = request.payload.data
        _exchange(self).effects.new_code = NewCode(
            raw=code,
            client_id=request.client.client_id,
            installation=request.user,
            scope=request.scope,
            redirect_uri=request.payload.redirect_uri,
            code_challenge=data["code_challenge"],
            code_challenge_method=data["code_challenge_method"],
        )

    def query_authorization_code(self, code: str, client: Any) -> CodeRecord | None:
        exchange = _exchange(self)
        record = exchange.snapshot.codes.get(code)
        if record is None or record.client_id != client.client_id:
            return None
        if record.used:
            # RFC 6749 4.1.2: a second use must fail and should revoke what the first issued.
            exchange.effects.revoked_families.append(record.family_id)
            return None
        return None if record.expired else record

    def delete_authorization_code(self, authorization_code: CodeRecord) -> None:
        _exchange(self).effects.consumed_code = authorization_code

    def authenticate_user(self, authorization_code: CodeRecord) -> Installation:
        return Installation(
            authorization_code.user_id, authorization_code.shop_id, authorization_code.family_id
        )


class RefreshTokenGrant(grants.RefreshTokenGrant):
    TOKEN_ENDPOINT_AUTH_METHODS = list(AUTH_METHODS)
    INCLUDE_NEW_REFRESH_TOKEN = True

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshRecord | None:
        exchange = _exchange(self)
        record = exchange.snapshot.refresh_tokens.get(refresh_token)
        if record is None or record.revoked or record.expired:
            return None
        if record.rotated:
            # Someone holds a copy of a token that was already exchanged.
            exchange.effects.revoked_families.append(record.family_id)
            return None
        return record

    def authenticate_user(self, refresh_token: RefreshRecord) -> Installation | None:
        if refresh_token.user_id is None or refresh_token.shop_id is None:
            return None
        return Installation(refresh_token.user_id, refresh_token.shop_id, refresh_token.family_id)

    def revoke_old_credential(self, refresh_token: RefreshRecord) -> None:
        _exchange(self).effects.rotated_refresh = refresh_token
