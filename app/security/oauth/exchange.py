"""One OAuth request's worth of state: what authlib may read, and what it decided.

The database is async and authlib is sync, so a request runs in three steps: async code loads
a ``Snapshot`` of every row authlib could ask about (the client, the code, the refresh token),
authlib runs in a worker thread against it and records ``Effects`` instead of writing, and
async code applies those effects in one transaction. The apply step re-checks single use with
conditional updates, so two concurrent requests cannot both redeem one code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from app.security.oauth.records import (
    AccessRecord,
    ClientRecord,
    CodeRecord,
    Installation,
    RefreshRecord,
)
from app.security.tokens import IssuedAccessToken

__all__ = ["Effects", "Exchange", "IssuedGrant", "NewCode", "Snapshot"]


@dataclass
class Snapshot:
    now: datetime
    clients: dict[str, ClientRecord] = field(default_factory=dict)
    codes: dict[str, CodeRecord] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshRecord] = field(default_factory=dict)
    access_tokens: dict[str, AccessRecord] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class NewCode:
    raw: str
    client_id: str
    installation: Installation
    scope: str
    redirect_uri: str
    code_challenge: str
    code_challenge_method: str


@dataclass(frozen=True, slots=True)
class IssuedGrant:
    """Tokens authlib returned to the client; the apply step stores what must be stored."""

    client_id: str
    scope: str
    access: IssuedAccessToken
    installation: Installation | None
    refresh_token: str | None


@dataclass
class Effects:
    new_code: NewCode | None = None
    consumed_code: CodeRecord | None = None
    rotated_refresh: RefreshRecord | None = None
    issued: IssuedGrant | None = None
    minted: IssuedAccessToken | None = None
    revoked_families: list[str] = field(default_factory=list)
    revoked_tokens: list[tuple[str, int]] = field(default_factory=list)  # (jti, exp)


@dataclass
class Exchange:
    snapshot: Snapshot
    effects: Effects = field(default_factory=Effects)
