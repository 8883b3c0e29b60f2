"""The engine is tuned for its database."""

from __future__ import annotations

import asyncio

import pytest
from sqlalchemy import select, text

from app.db import Database
from app.identity.models import Shop
from tests.support.factories import unique

pytestmark = pytest.mark.anyio


async def test_connections_are_tuned_for_the_dialect(db: Database) -> None:
    async with db.engine.connect() as connection:
        if db.engine.dialect.name == "sqlite":
            assert (await connection.execute(text("PRAGMA journal_mode"))).scalar() == "wal"
            assert (await connection.execute(text("PRAGMA foreign_keys"))).scalar() == 1
            assert (await connection.execute(text("PRAGMA busy_timeout"))).scalar() >= 5000
        else:
            assert db.engine.pool.size() >= 1  # type: ignore[attr-defined]
            assert (await connection.execute(text("SHOW server_version"))).scalar()


async def test_writers_exclude_each_other_without_failing(db: Database) -> None:
    """Concurrent read-then-write transactions queue instead of failing with "locked"."""
    handle = unique("race")
    async with db.writer() as session, session.begin():
        session.add(Shop(handle=handle, name="0", currency="EUR"))

    async def bump() -> None:
        async with db.writer() as session, session.begin():
            shop = await session.scalar(select(Shop).where(Shop.handle == handle).with_for_update())
            assert shop is not None
            await asyncio.sleep(0)
            shop.name = str(int(shop.name) + 1)

    await asyncio.gather(*(bump() for _ in range(20)))
    async with db.reader() as session:
        assert await session.scalar(select(Shop.name).where(Shop.handle == handle)) == "20"
