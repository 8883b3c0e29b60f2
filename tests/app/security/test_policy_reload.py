"""A policy change reaches every worker: each reloads when the change is announced."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack

import pytest
from sqlalchemy import delete
from starlette.applications import Starlette

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.security.rbac import CasbinRule, RoleAssignment

pytestmark = pytest.mark.anyio


@pytest.fixture
async def workers(settings: Settings, migrated: str) -> AsyncIterator[list[Starlette]]:
    """Two app instances, as two worker processes would be, sharing the run's Redis prefix."""
    shared = settings.model_copy(
        update={"redis_prefix": f"{settings.redis_prefix}{uuid.uuid4().hex[:6]}:"}
    )
    async with AsyncExitStack() as stack:
        apps = [create_app(shared), create_app(shared)]
        for app in apps:
            await stack.enter_async_context(app.router.lifespan_context(app))
            await asyncio.wait_for(app.state.policy_changes.subscribed.wait(), timeout=5)
        yield apps


async def _add_rule(db: Database, obj: str) -> None:
    async with db.writer() as session, session.begin():
        session.add(CasbinRule(ptype="p", v0="business", v1="shop:*", v2=obj, v3="read"))


async def _remove_rule(db: Database, obj: str) -> None:
    async with db.writer() as session, session.begin():
        await session.execute(delete(CasbinRule).where(CasbinRule.v2 == obj))


def _allows(app: Starlette, obj: str) -> bool:
    return app.state.services.authorizer.allows(
        [RoleAssignment("business", "shop:1")], "shop:1", obj, "read"
    )


async def _reloaded(app: Starlette, version: int) -> None:
    while app.state.services.authorizer.version == version:
        await asyncio.sleep(0.01)


@pytest.mark.redis
async def test_an_announced_change_reaches_the_other_worker(workers: list[Starlette]) -> None:
    first, second = workers
    obj = f"report_{uuid.uuid4().hex[:8]}"
    db = first.state.services.db
    await _add_rule(db, obj)
    try:
        assert not _allows(second, obj)
        before = second.state.services.authorizer.version
        await first.state.policy_changes.announce()
        await asyncio.wait_for(_reloaded(second, before), timeout=2)
        assert _allows(second, obj) and _allows(first, obj)
    finally:
        await _remove_rule(db, obj)
        await first.state.policy_changes.announce()


async def test_without_redis_the_one_process_reloads_at_once(
    settings: Settings, migrated: str
) -> None:
    local = settings.model_copy(update={"redis_url": None})
    app = create_app(local)
    obj = f"report_{uuid.uuid4().hex[:8]}"
    async with app.router.lifespan_context(app):
        await _add_rule(app.state.services.db, obj)
        try:
            assert not _allows(app, obj)
            await app.state.policy_changes.announce()
            assert _allows(app, obj)
        finally:
            await _remove_rule(app.state.services.db, obj)
