"""Registered API clients (ISV apps): OAuth2 credentials and request-signing secrets.

The OAuth client secret is only ever compared, so only its hash is kept. Signing secrets must be
read back to compute HMACs, so they are stored encrypted, two at a time: during a rotation the
previous one keeps verifying until it is retired.
"""

from __future__ import annotations

import enum
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import JSON, Enum, String, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, utcnow
from app.security.encryption import FieldCipher

__all__ = [
    "ClientStatus",
    "IssuedCredentials",
    "OAuthClient",
    "client_by_id",
    "register_client",
    "rotate_client_secret",
    "rotate_signing_secret",
    "signing_secrets",
    "verify_client_secret",
]

_SIGNING_CONTEXT = "oauth_clients.signing_secret"


class ClientStatus(enum.StrEnum):
    ACTIVE = "active"
    SUSPENDED = "suspended"


class OAuthClient(Base):
    __tablename__ = "oauth_clients"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    client_id: Mapped[str] = mapped_column(String(64), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    secret_hash: Mapped[str] = mapped_column(String(64))
    # After a rotation the previous client secret keeps working until this moment.
    previous_secret_hash: Mapped[str | None] = mapped_column(String(64))
    previous_secret_expires_at: Mapped[datetime | None]
    signing_secret: Mapped[str] = mapped_column(String(255))
    previous_signing_secret: Mapped[str | None] = mapped_column(String(255))
    redirect_uris: Mapped[list[str]] = mapped_column(JSON, default=list)
    scopes: Mapped[list[str]] = mapped_column(JSON, default=list)
    grant_types: Mapped[list[str]] = mapped_column(JSON, default=list)
    status: Mapped[ClientStatus] = mapped_column(
        Enum(ClientStatus, native_enum=False, length=16), default=ClientStatus.ACTIVE
    )
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


@dataclass(frozen=True, slots=True)
class IssuedCredentials:
    """Shown once, at registration or rotation; Agora keeps no readable copy of the client
    secret."""

    client_id: str
    client_secret: str
    signing_secret: str


def _hash(secret: str) -> str:
    # Client secrets are 256 random bits: a fast hash is enough, there is nothing to guess.
    return hashlib.sha256(secret.encode()).hexdigest()


async def register_client(
    session: AsyncSession,
    cipher: FieldCipher,
    *,
    name: str,
    scopes: list[str],
    redirect_uris: list[str] | None = None,
    grant_types: list[str] | None = None,
) -> IssuedCredentials:
    client_id = f"agc_{secrets.token_hex(12)}"
    client_secret = secrets.token_urlsafe(32)
    signing = secrets.token_urlsafe(32)
    session.add(
        OAuthClient(
            client_id=client_id,
            name=name,
            secret_hash=_hash(client_secret),
            signing_secret=cipher.encrypt(signing, context=_SIGNING_CONTEXT),
            redirect_uris=list(redirect_uris or []),
            scopes=sorted(set(scopes)),
            grant_types=list(grant_types or ["client_credentials"]),
        )
    )
    await session.flush()
    return IssuedCredentials(client_id, client_secret, signing)


async def client_by_id(session: AsyncSession, client_id: str) -> OAuthClient | None:
    return await session.scalar(select(OAuthClient).where(OAuthClient.client_id == client_id))


def verify_client_secret(client: OAuthClient, secret: str, now: datetime | None = None) -> bool:
    """The current secret, or the previous one while its grace period after a rotation lasts."""
    given = _hash(secret)
    if hmac.compare_digest(client.secret_hash, given):
        return True
    previous, until = client.previous_secret_hash, client.previous_secret_expires_at
    return (
        previous is not None
        and until is not None
        and now is not None
        and now < until
        and hmac.compare_digest(previous, given)
    )


async def rotate_client_secret(
    session: AsyncSession, client: OAuthClient, *, grace: timedelta, now: datetime
) -> str:
    """A new client secret, shown once; the old one works for ``grace`` more."""
    fresh = secrets.token_urlsafe(32)
    client.previous_secret_hash = client.secret_hash
    client.previous_secret_expires_at = now + grace
    client.secret_hash = _hash(fresh)
    await session.flush()
    return fresh


def signing_secrets(client: OAuthClient, cipher: FieldCipher) -> list[bytes]:
    """The secrets a signature may be made with: the current one, then the previous."""
    stored = [client.signing_secret, client.previous_signing_secret]
    return [cipher.decrypt(s, context=_SIGNING_CONTEXT).encode() for s in stored if s]


async def rotate_signing_secret(
    session: AsyncSession, cipher: FieldCipher, client: OAuthClient
) -> str:
    """Start a rotation: a new current secret, the old one kept as previous."""
    fresh = secrets.token_urlsafe(32)
    client.previous_signing_secret = client.signing_secret
    client.signing_secret = cipher.encrypt(fresh, context=_SIGNING_CONTEXT)
    await session.flush()
    return fresh
