"""Counting the SQL statements an operation sends, for the per-operation budgets."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

# Transaction control and connection set-up are not statements of the operation.
_IGNORED = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA", "SELECT 1", ";")


class StatementCounter:
    def __init__(self) -> None:
        self.statements: list[str] = []

    @property
    def count(self) -> int:
        return len(self.statements)

    def reset(self) -> None:
        self.statements.clear()

    def _record(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if not statement.lstrip().upper().startswith(_IGNORED):
            self.statements.append(statement)

    @classmethod
    @contextmanager
    def attached(cls, engine: AsyncEngine) -> Iterator[StatementCounter]:
        counter = cls()
        event.listen(engine.sync_engine, "before_cursor_execute", counter._record)
        try:
            yield counter
        finally:
            event.remove(engine.sync_engine, "before_cursor_execute", counter._record)
