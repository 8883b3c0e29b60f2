"""Engine, sessions, the declarative base and the one naming convention for constraints.

Both databases are first-class: SQLite for ``make run`` and tests, PostgreSQL for production.
Everything dialect-specific about connecting lives here and nowhere else.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, DateTime, Enum, Integer, MetaData, TypeDecorator, event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.pool import ConnectionPoolEntry

from app.config import Settings

__all__ = [
    "NAMING_CONVENTION",
    "Base",
    "BigId",
    "Database",
    "SessionFactory",
    "UtcDateTime",
    "create_engine",
    "dialect_insert",
    "enum_column",
    "is_sqlite",
    "utcnow",
]

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SessionFactory = async_sessionmaker[AsyncSession]
WRITER_OPTION = "agora_writer"

# SQLite only auto-increments INTEGER PRIMARY KEY, so big integer keys are plain INTEGER there.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class UtcDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on both databases.

    SQLite keeps no offset, so its values come back naive. They were written in UTC, so they are
    labelled UTC on the way out rather than leaking naive datetimes into the domain.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            raise ValueError("naive datetime given; Agora stores aware UTC timestamps only")
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is not None and value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value


def enum_column(kind: type[enum.Enum], length: int = 24) -> Enum:
    """An enum stored as a checked string (by member name) on both databases: adding a member
    never needs PostgreSQL's ALTER TYPE."""
    return Enum(kind, native_enum=False, length=length, validate_strings=True)


class Base(DeclarativeBase):
    """Declarative base shared by every domain, so alembic sees one metadata."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map = {datetime: UtcDateTime()}


def dialect_insert(session: AsyncSession, table: Any) -> Any:
    """The dialect's own INSERT, for ``ON CONFLICT`` (which both databases speak alike)."""
    module = postgresql if session.get_bind().dialect.name == "postgresql" else sqlite
    return module.insert(table)


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite")


def _tune_sqlite(dbapi_connection: Any, _record: ConnectionPoolEntry) -> None:
    """WAL lets readers run beside the single writer; the busy timeout queues writers instead of
    failing them with "database is locked"; SQLite ignores foreign keys unless asked.

    The driver's own implicit BEGIN is switched off so that ``_begin_sqlite`` decides the kind.
    """
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA busy_timeout=15000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.close()


def _begin_sqlite(connection: Connection) -> None:
    """Writers take SQLite's write lock up front (BEGIN IMMEDIATE).

    A deferred transaction that reads and then writes fails at once with SQLITE_BUSY when another
    writer committed in between, and the busy timeout cannot help it. Taking the lock first makes
    writers queue on the timeout instead, while readers stay lock-free under WAL.
    """
    immediate = connection.get_execution_options().get(WRITER_OPTION, False)
    connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def create_engine(settings: Settings, url: str | None = None) -> AsyncEngine:
    """Build the async engine for the configured database, with sane per-dialect settings."""
    url = url or settings.resolved_database_url
    if is_sqlite(url):
        if ":///" in url and ":memory:" not in url:
            settings.var_dir.mkdir(parents=True, exist_ok=True)
        engine = create_async_engine(url, echo=settings.database_echo, connect_args={"timeout": 15})
        event.listen(engine.sync_engine, "connect", _tune_sqlite)
        event.listen(engine.sync_engine, "begin", _begin_sqlite)
        return engine
    return create_async_engine(
        url,
        echo=settings.database_echo,
        pool_size=settings.database_pool_size,
        max_overflow=settings.database_max_overflow,
        pool_pre_ping=True,
        pool_recycle=1800,
    )


@dataclass(frozen=True, slots=True)
class Database:
    """The engine and its two session factories.

    ``reader`` serves queries. ``writer`` is for transactions that change data: on SQLite they
    begin IMMEDIATE; on PostgreSQL the two are the same.
    """

    engine: AsyncEngine
    reader: SessionFactory
    writer: SessionFactory

    @classmethod
    def connect(cls, settings: Settings, url: str | None = None) -> Database:
        engine = create_engine(settings, url)
        # expire_on_commit=False: objects a service returns stay readable after its commit.
        reader = async_sessionmaker(engine, expire_on_commit=False)
        writer = async_sessionmaker(
            engine.execution_options(**{WRITER_OPTION: True}), expire_on_commit=False
        )
        return cls(engine=engine, reader=reader, writer=writer)

    async def dispose(self) -> None:
        await self.engine.dispose()
