"""Migrations are reversible and agree with the models, on whichever database the run uses."""

from __future__ import annotations

from typing import Any

import anyio.to_thread
import pytest
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

from app.config import Settings
from app.db import create_engine
from app.migrate import downgrade, upgrade
from migrations.models import metadata

pytestmark = pytest.mark.anyio


async def _inspect(settings: Settings, url: str, probe: Any) -> Any:
    engine = create_engine(settings, url)
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(probe)
    finally:
        await engine.dispose()


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names()) - {"alembic_version"}


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": True})
    return compare_metadata(context, metadata)


async def test_upgrade_downgrade_upgrade_leaves_the_models_schema(
    settings: Settings, empty_database: str
) -> None:
    await anyio.to_thread.run_sync(upgrade, empty_database)
    assert await _inspect(settings, empty_database, _tables) == set(metadata.tables)

    await anyio.to_thread.run_sync(downgrade, empty_database)
    assert await _inspect(settings, empty_database, _tables) == set()

    await anyio.to_thread.run_sync(upgrade, empty_database)
    assert await _inspect(settings, empty_database, _differences) == []
