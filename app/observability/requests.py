"""What one request did, gathered while it runs: its operation, cost and SQL statement count.

The HTTP edge opens a ``RequestRecord`` for each request (``observing``) and writes the access
log from it; the GraphQL layer fills in the operation and the cost; a SQLAlchemy event counts
statements into it. They meet through a context variable because the engine's events cannot be
handed the request. The record is one mutable object per request: tasks the request spawns
(DataLoader batches) copy the context and so share it, while background loops, started
outside any request, see none.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncEngine

from app.observability.metrics import DB_CONNECTIONS_IN_USE

__all__ = ["RequestRecord", "current_request", "instrument_engine", "observing"]

# Transaction control is not a statement of the operation (as in the statement budgets' tests).
_NOT_COUNTED = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE", "PRAGMA")


@dataclass(slots=True)
class RequestRecord:
    request_id: str = ""
    operation: str | None = None
    operation_type: str | None = None
    requested_cost: int | None = None
    actual_cost: int | None = None
    sql_statements: int = 0
    error_codes: list[str] = field(default_factory=list)


_current: ContextVar[RequestRecord | None] = ContextVar("agora_request", default=None)


def current_request() -> RequestRecord | None:
    """The record of the request being served, or None outside one (jobs, the dispatcher)."""
    return _current.get()


@contextmanager
def observing(record: RequestRecord) -> Iterator[RequestRecord]:
    token = _current.set(record)
    try:
        yield record
    finally:
        _current.reset(token)


def _count_statement(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
    record = _current.get()
    if record is not None and not statement.lstrip()[:9].upper().startswith(_NOT_COUNTED):
        record.sql_statements += 1


def _checked_out(*_: Any) -> None:
    DB_CONNECTIONS_IN_USE.inc()


def _checked_in(*_: Any) -> None:
    DB_CONNECTIONS_IN_USE.dec()


def instrument_engine(engine: AsyncEngine) -> None:
    """Counts each request's statements and keeps the pool-in-use gauge, through pool events
    rather than a scrape-time look, so that it works for every pool class (SQLite's too) and
    adds up across workers."""
    sync_engine = engine.sync_engine
    event.listen(sync_engine, "before_cursor_execute", _count_statement)
    event.listen(sync_engine.pool, "checkout", _checked_out)
    event.listen(sync_engine.pool, "checkin", _checked_in)
