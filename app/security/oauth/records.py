"""Plain, loaded-in-advance records that implement authlib's model mixins.

authlib's grants ask their models questions synchronously (``check_client_secret``,
``get_scope``...). These records answer from values read before authlib runs, so the
synchronous part touches no database and can run in a worker thread.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from authlib.oauth2.rfc6749 import AuthorizationCodeMixin, ClientMixin, TokenMixin

from app.security.clients import ClientStatus, OAuthClient, verify_client_secret
from app.security.oauth.scopes import parse_scope
from app.security.tokens import AccessTokenClaims

__all__ = ["AccessRecord", "ClientRecord", "CodeRecord", "Installation", "RefreshRecord"]

# Every Agora client is confidential; "none" (public clients) is never accepted.
AUTH_METHODS = ("client_secret_basic", "client_secret_post")


@dataclass(frozen=True, slots=True)
class Installation:
    """Who granted what: the user who approved, the shop, and the grant family."""

    user_id: int
    shop_id: int
    family_id: str

    def get_user_id(self) -> int:
        return self.user_id


@dataclass(frozen=True)
class ClientRecord(ClientMixin):
    row: OAuthClient
    # The request's time: a previous secret is accepted only within its grace period.
    now: datetime | None = None

    @property
    def client_id(self) -> str:
        return self.row.client_id

    @property
    def name(self) -> str:
        return self.row.name

    @property
    def active(self) -> bool:
        return self.row.status is ClientStatus.ACTIVE

    def get_client_id(self) -> str:
        return self.row.client_id

    def get_default_redirect_uri(self) -> None:
        # redirect_uri is always required and compared exactly (OAuth 2.1), never defaulted.
        return None

    def get_allowed_scope(self, scope: str | None) -> str | None:
        """The requested scopes if all were registered for the client; every registered one
        when none is asked for; None (invalid_scope) when any was not registered."""
        registered = set(self.row.scopes)
        requested = set(parse_scope(scope)) or registered
        if not requested <= registered:
            return None
        return " ".join(sorted(requested))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.row.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return verify_client_secret(self.row, client_secret, self.now)

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method in AUTH_METHODS

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code" and "authorization_code" in self.row.grant_types

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.row.grant_types


@dataclass(frozen=True, slots=True)
class CodeRecord(AuthorizationCodeMixin):
    id: int
    client_id: str
    user_id: int
    shop_id: int
    scope: str
    redirect_uri: str
    code_challenge: str
    code_challenge_method: str
    family_id: str
    expired: bool
    used: bool

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope


@dataclass(frozen=True, slots=True)
class RefreshRecord(TokenMixin):
    id: int
    client_id: str
    family_id: str
    shop_id: int | None
    user_id: int | None
    scope: str
    expires_at: int
    expired: bool
    rotated: bool
    revoked: bool

    def check_client(self, client: ClientRecord) -> bool:
        return client.client_id == self.client_id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return 0

    def is_expired(self) -> bool:
        return self.expired

    def is_revoked(self) -> bool:
        return self.revoked or self.rotated


@dataclass(frozen=True, slots=True)
class AccessRecord(TokenMixin):
    """A JWT that verified (signature, iss, aud, exp) before authlib ran."""

    claims: AccessTokenClaims
    revoked: bool
    extra: dict[str, object] = field(default_factory=dict)

    def check_client(self, client: ClientRecord) -> bool:
        return client.client_id == self.claims.client_id

    def get_scope(self) -> str:
        return self.claims.scope

    def get_expires_in(self) -> int:
        return 0

    def is_expired(self) -> bool:
        return False

    def is_revoked(self) -> bool:
        return self.revoked
