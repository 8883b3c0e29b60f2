"""What the authorization server keeps: authorization codes, app refresh tokens, and the ids
of access tokens issued within a grant (so a whole grant can be revoked).

Codes and refresh tokens are stored as SHA-256 hashes only: both are 256 random bits, so a
plain hash is enough, and a database leak hands out nothing usable. A grant (one approved
authorization code and everything issued from it) shares a ``family_id``: reusing the code,
or replaying a rotated refresh token, revokes the family.
"""

from __future__ import annotations

import hashlib
from datetime import datetime

from sqlalchemy import ForeignKey, String
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, utcnow

__all__ = ["AppAccessToken", "AppRefreshToken", "AuthorizationCode", "digest"]

_CLIENT_FK = "oauth_clients.client_id"


def digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


class AuthorizationCode(Base):
    """A code a business user approved for one client, one shop and a set of scopes."""

    __tablename__ = "oauth_authorization_codes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    code_hash: Mapped[str] = mapped_column(String(64), unique=True)
    client_id: Mapped[str] = mapped_column(ForeignKey(_CLIENT_FK, ondelete="CASCADE"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    shop_id: Mapped[int] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    scope: Mapped[str] = mapped_column(String(1000))
    redirect_uri: Mapped[str] = mapped_column(String(2000))
    code_challenge: Mapped[str] = mapped_column(String(128))
    code_challenge_method: Mapped[str] = mapped_column(String(8))
    family_id: Mapped[str] = mapped_column(String(32), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    used_at: Mapped[datetime | None]


class AppRefreshToken(Base):
    """One link in an app's refresh-token family (the pattern of identity's user sessions)."""

    __tablename__ = "oauth_refresh_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey(_CLIENT_FK, ondelete="CASCADE"), index=True)
    shop_id: Mapped[int | None] = mapped_column(ForeignKey("shops.id", ondelete="CASCADE"))
    user_id: Mapped[int | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    scope: Mapped[str] = mapped_column(String(1000))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]


class AppAccessToken(Base):
    """The ``jti`` of an access token issued within a grant family, until it expires.

    Access tokens are self-contained JWTs; this row exists only so that revoking a family can
    put every live token of it on the denylist.
    """

    __tablename__ = "oauth_access_tokens"

    jti: Mapped[str] = mapped_column(String(64), primary_key=True)
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    client_id: Mapped[str] = mapped_column(ForeignKey(_CLIENT_FK, ondelete="CASCADE"))
    expires_at: Mapped[datetime]
