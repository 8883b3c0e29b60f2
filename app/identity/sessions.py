"""Refresh-token sessions: hashed at rest, rotated on every use, revoked as a family on reuse."""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.identity.models import RefreshToken

__all__ = ["Rotation", "revoke_session", "rotate_session", "start_session"]


def _digest(raw_token: str) -> str:
    # The token is 256 random bits, so a plain hash is enough: there is nothing to brute-force.
    return hashlib.sha256(raw_token.encode()).hexdigest()


@dataclass(frozen=True, slots=True)
class Rotation:
    """Outcome of presenting a refresh token. ``new_token`` is None when it was refused."""

    user_id: int | None
    new_token: str | None
    reuse_detected: bool = False


async def _issue(
    session: AsyncSession, user_id: int, family_id: str, now: datetime, ttl: timedelta
) -> str:
    raw = secrets.token_urlsafe(32)
    session.add(
        RefreshToken(
            user_id=user_id,
            family_id=family_id,
            token_hash=_digest(raw),
            created_at=now,
            expires_at=now + ttl,
        )
    )
    await session.flush()
    return raw


async def start_session(
    session: AsyncSession, user_id: int, *, now: datetime, ttl: timedelta
) -> str:
    return await _issue(session, user_id, secrets.token_hex(16), now, ttl)


async def rotate_session(
    session: AsyncSession, raw_token: str, *, now: datetime, ttl: timedelta
) -> Rotation:
    """Exchange a live refresh token for a new one in the same family.

    The claim is one conditional UPDATE, so two concurrent uses cannot both succeed. A token
    that was already rotated means someone else holds a copy: the family is revoked.
    """
    digest = _digest(raw_token)
    claimed = (
        await session.execute(
            update(RefreshToken)
            .where(
                RefreshToken.token_hash == digest,
                RefreshToken.rotated_at.is_(None),
                RefreshToken.revoked_at.is_(None),
                RefreshToken.expires_at > now,
            )
            .values(rotated_at=now)
            .returning(RefreshToken.user_id, RefreshToken.family_id)
            .execution_options(synchronize_session=False)
        )
    ).first()
    if claimed is not None:
        user_id, family_id = claimed
        return Rotation(user_id, await _issue(session, user_id, family_id, now, ttl))
    known = await session.scalar(select(RefreshToken).where(RefreshToken.token_hash == digest))
    if known is not None and known.rotated_at is not None and known.revoked_at is None:
        await _revoke_family(session, known.family_id, now)
        return Rotation(known.user_id, None, reuse_detected=True)
    return Rotation(None, None)


async def revoke_session(session: AsyncSession, raw_token: str, *, now: datetime) -> bool:
    """Revoke the whole family the token belongs to (a logout ends every rotation of it)."""
    known = await session.scalar(
        select(RefreshToken).where(RefreshToken.token_hash == _digest(raw_token))
    )
    if known is None:
        return False
    await _revoke_family(session, known.family_id, now)
    return True


async def _revoke_family(session: AsyncSession, family_id: str, now: datetime) -> None:
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.family_id == family_id, RefreshToken.revoked_at.is_(None))
        .values(revoked_at=now)
        .execution_options(synchronize_session=False)
    )
