"""Idempotency keys for money and stock mutations.

A key is claimed in the same transaction as the effect it guards, so a replay can never see a
key without its effect or an effect without its key. The first result is stored as a small JSON
document that the caller knows how to turn back into its answer.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import JSON, String, UniqueConstraint, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.orm import Mapped, mapped_column

from app.db import Base, BigId, SessionFactory, utcnow

__all__ = [
    "MAX_KEY_LENGTH",
    "IdempotencyConflictError",
    "IdempotencyKey",
    "IdempotencyKeyError",
    "fingerprint",
    "recorded_result",
    "run_once",
]

MAX_KEY_LENGTH = 200


class IdempotencyKey(Base):
    __tablename__ = "idempotency_keys"
    __table_args__ = (UniqueConstraint("scope", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    scope: Mapped[str] = mapped_column(String(120))
    key: Mapped[str] = mapped_column(String(MAX_KEY_LENGTH))
    request_hash: Mapped[str] = mapped_column(String(64))
    result: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class IdempotencyConflictError(Exception):
    """The key was used before with different input."""


class IdempotencyKeyError(ValueError):
    """The key is empty or longer than ``MAX_KEY_LENGTH``."""


def fingerprint(request: Mapping[str, Any]) -> str:
    """A stable hash of the request, independent of key order."""
    return hashlib.sha256(orjson.dumps(request, option=orjson.OPT_SORT_KEYS)).hexdigest()


async def run_once(
    writer: SessionFactory,
    *,
    scope: str,
    key: str,
    request: Mapping[str, Any],
    effect: Callable[[AsyncSession], Awaitable[dict[str, Any]]],
) -> tuple[dict[str, Any], bool]:
    """Run ``effect`` once per (scope, key) and return ``(result, replayed)``.

    If ``effect`` raises, its transaction rolls back together with the key, so a request that
    failed may be retried with the same key. Two concurrent first calls race on the unique
    constraint; the loser starts over and finds the winner's result.
    """
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise IdempotencyKeyError(key)
    request_hash = fingerprint(request)
    for _attempt in range(3):
        try:
            return await _run_in_transaction(writer, scope, key, request_hash, effect)
        except _LostRaceError:
            continue
    raise RuntimeError(f"idempotency key {key!r} kept racing")  # pragma: no cover


async def recorded_result(
    reader: SessionFactory, *, scope: str, key: str, request: Mapping[str, Any]
) -> dict[str, Any] | None:
    """The result already stored under (scope, key), or None if the key is unused.

    For callers that must do slow work (network calls, validation) before ``run_once``: a
    replay is answered without repeating it, and a conflict is refused before it starts.
    """
    if not key.strip() or len(key) > MAX_KEY_LENGTH:
        raise IdempotencyKeyError(key)
    async with reader() as session:
        existing = await session.scalar(
            select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        )
    if existing is None:
        return None
    if existing.request_hash != fingerprint(request):
        raise IdempotencyConflictError(key)
    return existing.result


class _LostRaceError(Exception):
    """Another transaction claimed the same key first."""


async def _run_in_transaction(
    writer: SessionFactory,
    scope: str,
    key: str,
    request_hash: str,
    effect: Callable[[AsyncSession], Awaitable[dict[str, Any]]],
) -> tuple[dict[str, Any], bool]:
    async with writer() as session, session.begin():
        existing = await session.scalar(
            select(IdempotencyKey).where(IdempotencyKey.scope == scope, IdempotencyKey.key == key)
        )
        if existing is not None:
            if existing.request_hash != request_hash:
                raise IdempotencyConflictError(key)
            return existing.result, True
        record = IdempotencyKey(scope=scope, key=key, request_hash=request_hash, result={})
        session.add(record)
        try:
            await session.flush()
        except IntegrityError as exc:
            raise _LostRaceError from exc
        record.result = await effect(session)
        return record.result, False
