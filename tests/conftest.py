"""Fixtures that make real things: a migrated database (SQLite, or PostgreSQL when
AGORA_DATABASE_URL names one), the ASGI app with its lifespan, and an httpx client over it."""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import anyio.to_thread
import httpx
import pytest
from starlette.applications import Starlette

from app.config import Settings
from app.db import Database
from app.main import create_app
from app.migrate import sync_policy, upgrade
from tests.support.clock import MutableClock
from tests.support.databases import fresh_database
from tests.support.factories import World, make_world
from tests.support.graphql import GraphQLClient
from tests.support.ledger import assert_balanced
from tests.support.receiver import Receiver, running_receiver
from tests.support.sql import StatementCounter

RUN_ID = uuid.uuid4().hex[:10]
IN_CI = os.environ.get("CI", "").lower() == "true"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Locally, Redis tests are left out when no Redis is configured. In CI they skip, and a
    skip fails the run, so CI can never pass without them."""
    if os.environ.get("AGORA_REDIS_URL"):
        return
    marker = pytest.mark.skip(reason="AGORA_REDIS_URL is not set")
    kept = []
    for item in items:
        if "redis" in item.keywords:
            if IN_CI:
                item.add_marker(marker)
                kept.append(item)
        else:
            kept.append(item)
    if not IN_CI and len(kept) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in kept])
        items[:] = kept


def pytest_sessionfinish(session: pytest.Session, exitstatus: int) -> None:
    if not IN_CI:
        return
    reporter = session.config.pluginmanager.get_plugin("terminalreporter")
    skipped = len(reporter.stats.get("skipped", [])) if reporter else 0
    if skipped:
        reporter.write_line(f"CI=true: {skipped} skipped test(s) count as failures.", red=True)
        session.exitstatus = pytest.ExitCode.TESTS_FAILED


@pytest.fixture(scope="session")
def anyio_backend() -> str:
    return "asyncio"


@pytest.fixture(scope="session")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("var")


@pytest.fixture(scope="session")
def settings(var_dir: Path) -> Settings:
    """Settings for the suite: the given PostgreSQL, or a SQLite file of the run's own."""
    return Settings(
        var_dir=var_dir,
        database_url=os.environ.get("AGORA_DATABASE_URL")
        or f"sqlite+aiosqlite:///{var_dir}/test.db",
        redis_url=os.environ.get("AGORA_REDIS_URL") or None,
        redis_prefix=f"{os.environ.get('AGORA_REDIS_PREFIX', 'agora-test')}:{RUN_ID}:",
        password_hash_time_cost=1,
        password_hash_memory_kib=8,
        max_body_bytes=64 * 1024,
        cors_origins=["https://shop.example"],
        login_max_failures=3,
        # Generous limits for the suite; tests of the limits build apps with tight ones.
        rate_limit_rate=10_000,
        rate_limit_burst=10_000,
        query_cost_bucket_max=1_000_000,
        query_cost_restore_rate=100_000,
        # Tests run jobs by hand (run_jobs_once) so that they can assert what one round does.
        jobs_interval_seconds=0,
        # Likewise the outbox dispatcher (Dispatcher.run_once).
        dispatcher_interval_seconds=0,
    )


@pytest.fixture(scope="session")
async def migrated(settings: Settings) -> str:
    url = settings.resolved_database_url
    await anyio.to_thread.run_sync(upgrade, url)
    await sync_policy(settings, url)
    return url


@pytest.fixture(scope="session")
def clock() -> MutableClock:
    return MutableClock()


@pytest.fixture(autouse=True)
def _reset_clock(clock: MutableClock) -> Iterator[None]:
    yield
    clock.reset()


@pytest.fixture(scope="session")
async def app(settings: Settings, migrated: str, clock: MutableClock) -> AsyncIterator[Starlette]:
    application = create_app(settings, clock=clock)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture(scope="session")
def db(app: Starlette) -> Database:
    return app.state.services.db


@pytest.fixture
async def http(app: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
        yield client


@pytest.fixture
def gql(http: httpx.AsyncClient) -> GraphQLClient:
    return GraphQLClient(http)


@pytest.fixture
def statements(db: Database) -> Iterator[StatementCounter]:
    with StatementCounter.attached(db.engine) as counter:
        yield counter


@pytest.fixture
async def empty_database(settings: Settings) -> AsyncIterator[str]:
    """A database of its own, not yet migrated, dropped afterwards."""
    async with fresh_database(settings.resolved_database_url, settings.var_dir) as url:
        yield url


@pytest.fixture
async def world(app: Starlette) -> AsyncIterator[World]:
    """A shop of its own. After the test, the ledger guard: no journal transaction anywhere in
    the ledger may be unbalanced, so a posting rule that breaks the zero sum fails the very
    scenario that broke it, whatever that test asserted."""
    yield await make_world(app)
    await assert_balanced(app.state.services.db)


@pytest.fixture
async def other_world(app: Starlette) -> World:
    return await make_world(app)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    """A partner's HTTP server on 127.0.0.1 that records calls and answers as told."""
    async with running_receiver() as running:
        yield running
