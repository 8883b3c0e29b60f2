"""Alembic, driven from code: used by ``agora migrate`` and by the tests."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config

from app.config import Settings
from app.db import Database
from app.security.rbac import sync_baseline_policy

__all__ = ["alembic_config", "downgrade", "sync_policy", "upgrade"]


def alembic_config(database_url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(resources.files("migrations")))
    config.attributes["database_url"] = database_url
    return config


def upgrade(database_url: str, revision: str = "heads") -> None:
    """Run migrations. Blocking (alembic runs its own event loop): call it from a thread."""
    command.upgrade(alembic_config(database_url), revision)


def downgrade(database_url: str, revision: str = "base") -> None:
    command.downgrade(alembic_config(database_url), revision)


async def sync_policy(settings: Settings, database_url: str | None = None) -> int:
    """Insert the shipped RBAC baseline rules that the database lacks."""
    db = Database.connect(settings, database_url)
    try:
        async with db.writer() as session, session.begin():
            return await sync_baseline_policy(session)
    finally:
        await db.dispose()
