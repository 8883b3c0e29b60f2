"""``agora worker --once`` from a shell: one dispatcher round and one round of jobs on the
configured database, then exit. It runs on a database of its own, so that it never sends
what other tests left in the shared outbox."""

from __future__ import annotations

from datetime import UTC, datetime

import anyio.to_thread
import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.db import Database
from app.events.models import OutboxEvent
from app.events.outbox import record_event
from app.events.topics import Topic
from app.migrate import upgrade

pytestmark = pytest.mark.anyio


async def test_one_round_routes_what_the_outbox_holds(
    settings: Settings, empty_database: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a migrated database whose outbox holds an event nobody has routed yet
    await anyio.to_thread.run_sync(upgrade, empty_database)
    db = Database.connect(settings, empty_database)
    try:
        async with db.writer() as session, session.begin():
            event = record_event(
                session, Topic.PRODUCTS_UPDATED, None, {}, occurred_at=datetime.now(UTC)
            )
        monkeypatch.setenv("AGORA_DATABASE_URL", empty_database)
        monkeypatch.setenv("AGORA_VAR_DIR", str(settings.var_dir))

        # When the worker runs once from the shell
        result = await anyio.to_thread.run_sync(
            lambda: CliRunner().invoke(cli, ["worker", "--once"])
        )

        # Then it reports its round, and the event is routed (to nobody: no app listens)
        assert result.exit_code == 0, result.output
        assert result.output.startswith("1 events routed; 0 deliveries attempted")
        async with db.reader() as session:
            routed = await session.scalar(
                select(OutboxEvent.routed_at).where(OutboxEvent.id == event.id)
            )
        assert routed is not None
    finally:
        await db.dispose()
