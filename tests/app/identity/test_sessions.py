"""Refresh-token sessions at the service level, against the real database."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select, text

from app.db import Database
from app.identity.models import RefreshToken
from app.identity.sessions import Rotation, revoke_session, rotate_session, start_session
from tests.support.factories import World

pytestmark = pytest.mark.anyio

TTL = timedelta(days=30)


def _now() -> datetime:
    return datetime.now(UTC)


async def _start(db: Database, user_id: int) -> str:
    async with db.writer() as session, session.begin():
        return await start_session(session, user_id, now=_now(), ttl=TTL)


async def _rotate(db: Database, raw: str, now: datetime | None = None) -> Rotation:
    async with db.writer() as session, session.begin():
        return await rotate_session(session, raw, now=now or _now(), ttl=TTL)


async def _family(db: Database, user_id: int) -> list[RefreshToken]:
    async with db.reader() as session:
        rows = await session.scalars(
            select(RefreshToken).where(RefreshToken.user_id == user_id).order_by(RefreshToken.id)
        )
        return list(rows)


async def _warm_pool(db: Database) -> None:
    """Two idle connections, so that neither task waits on a connect while the other runs."""
    async with db.engine.connect() as first, db.engine.connect() as second:
        await first.execute(text("SELECT 1"))
        await second.execute(text("SELECT 1"))


async def test_concurrent_rotation_of_one_token_yields_at_most_one_token_and_revokes_the_family(
    db: Database, world: World
) -> None:
    user_id, _ = await world.user()
    raw = await _start(db, user_id)
    await _warm_pool(db)

    outcomes = await asyncio.gather(_rotate(db, raw), _rotate(db, raw))

    issued = [o.new_token for o in outcomes if o.new_token is not None]
    assert len(issued) <= 1
    assert any(o.reuse_detected for o in outcomes)
    rows = await _family(db, user_id)
    assert len(rows) == 1 + len(issued)
    assert len({row.family_id for row in rows}) == 1
    assert all(row.revoked_at is not None for row in rows)
    for token in [raw, *issued]:
        assert (await _rotate(db, token)).new_token is None


async def test_rotation_issues_a_new_token_of_the_same_family_and_the_old_one_is_spent(
    db: Database, world: World
) -> None:
    user_id, _ = await world.user()
    raw = await _start(db, user_id)

    rotation = await _rotate(db, raw)
    assert rotation.user_id == user_id
    assert rotation.new_token not in (None, raw)
    assert not rotation.reuse_detected
    rows = await _family(db, user_id)
    assert len(rows) == 2
    assert rows[0].family_id == rows[1].family_id
    assert rows[0].rotated_at is not None
    assert rows[1].rotated_at is None and rows[1].revoked_at is None

    reuse = await _rotate(db, raw)
    assert reuse.new_token is None
    assert reuse.reuse_detected
    assert all(row.revoked_at is not None for row in await _family(db, user_id))


async def test_an_expired_token_is_refused_without_revoking_anything(
    db: Database, world: World
) -> None:
    user_id, _ = await world.user()
    raw = await _start(db, user_id)

    late = await _rotate(db, raw, now=_now() + TTL + timedelta(seconds=1))
    assert late == Rotation(None, None)
    rows = await _family(db, user_id)
    assert len(rows) == 1
    assert rows[0].rotated_at is None and rows[0].revoked_at is None


async def test_revoking_one_family_leaves_the_users_other_sessions_alone(
    db: Database, world: World
) -> None:
    user_id, _ = await world.user()
    ended = await _start(db, user_id)
    kept = await _start(db, user_id)

    async with db.writer() as session, session.begin():
        assert await revoke_session(session, ended, now=_now())
        assert not await revoke_session(session, "no-such-token", now=_now())

    assert (await _rotate(db, ended)).new_token is None
    assert (await _rotate(db, kept)).new_token is not None
