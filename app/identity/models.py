"""Users, shops and refresh-token sessions."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ForeignKey, String, Text, false
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, utcnow

__all__ = ["RefreshToken", "Shop", "User"]


class Shop(Base):
    """A merchant's store: the tenant every storefront and back-office call is scoped to."""

    __tablename__ = "shops"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    handle: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    currency: Mapped[str] = mapped_column(String(3))
    # An app's sandbox: demo data only the app's sandbox tokens reach; never a default shop.
    sandbox: Mapped[bool] = mapped_column(default=False, server_default=false())
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class User(Base):
    """A person: shopper or staff. Roles live in Casbin's rule table, not here."""

    __tablename__ = "users"
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Email and phone are AES-GCM ciphertext (``app.identity.personal``): read them with
    # ``email_of`` / ``phone_of``. The attribute names say so, so no one compares them by mistake.
    sealed_email: Mapped[str] = mapped_column("email", Text)
    # HMAC of the lower-cased address: the login lookup, and unique case-insensitively.
    email_index: Mapped[str] = mapped_column(String(64), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(200), default="")
    sealed_phone: Mapped[str | None] = mapped_column("phone", Text)
    failed_logins: Mapped[int] = mapped_column(default=0)
    locked_until: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class RefreshToken(Base):
    """One link in a refresh-token family.

    Only a hash of the token is stored. Each use rotates to a new row in the same family; a
    second use of a rotated token means it leaked, so the whole family is revoked.
    """

    __tablename__ = "refresh_tokens"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    family_id: Mapped[str] = mapped_column(String(32), index=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime]
    rotated_at: Mapped[datetime | None]
    revoked_at: Mapped[datetime | None]
