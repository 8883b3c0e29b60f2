"""``/readyz`` answers 503 when the database or a configured Redis does not answer, naming
which, so a load balancer takes the instance out and an operator sees why."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import orjson
import pytest
from sqlalchemy.ext.asyncio import create_async_engine

from app.db import Database
from app.web.routes import readyz

pytestmark = pytest.mark.anyio


class Redis:
    def __init__(self, *, up: bool) -> None:
        self.up = up

    async def ping(self) -> bool:
        if not self.up:
            raise ConnectionError("redis is down")
        return True


def _request(engine: Any, redis: Redis | None) -> Any:
    state = SimpleNamespace(
        services=SimpleNamespace(db=SimpleNamespace(engine=engine)), redis=redis
    )
    return SimpleNamespace(app=SimpleNamespace(state=state))


async def _ready(engine: Any, redis: Redis | None) -> tuple[int, dict[str, str]]:
    response = await readyz(_request(engine, redis))
    return response.status_code, orjson.loads(response.body)


async def test_ready_when_the_database_and_redis_answer(db: Database) -> None:
    assert await _ready(db.engine, Redis(up=True)) == (
        200,
        {"status": "ok", "database": "ok", "redis": "ok"},
    )
    assert (await _ready(db.engine, None))[1]["redis"] == "not configured"


async def test_not_ready_when_redis_is_configured_but_down(db: Database) -> None:
    status, body = await _ready(db.engine, Redis(up=False))
    assert status == 503
    assert (body["database"], body["redis"]) == ("ok", "unavailable")


async def test_not_ready_when_the_database_is_down(tmp_path: Any) -> None:
    missing = tmp_path / "no-such-dir" / "agora.db"  # SQLite cannot create it
    engine = create_async_engine(f"sqlite+aiosqlite:///{missing}")
    try:
        status, body = await _ready(engine, None)
    finally:
        await engine.dispose()
    assert status == 503
    assert body["database"] == "unavailable"
