"""Running a mutation's work in one write transaction, turning refusals into payload errors."""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.errors import DomainError
from schema.auditing import Audit, record_change
from schema.node import parse_id

__all__ = ["pk_or_refuse", "write"]

T = TypeVar("T")


async def write(
    info: Info, work: Callable[[AsyncSession], Awaitable[T]], audit: Audit[T] | None = None
) -> tuple[T | None, DomainError | None]:
    """Commit ``work`` or, if it refuses, roll everything back and return the refusal.

    With ``audit``, the change's audit record is written in the same transaction; a refusal
    changed nothing and leaves no record.
    """
    try:
        async with info.context.db.writer() as session, session.begin():
            before = await audit.state_before(session) if audit is not None else None
            result = await work(session)
            if audit is not None:
                await record_change(info, session, audit, result, before)
            return result, None
    except DomainError as error:
        return None, error


def pk_or_refuse(global_id: Any, type_name: str, code: enum.StrEnum, *field: str) -> int:
    """An input ID's key; an ID that is malformed or of another type is simply not found."""
    parsed = parse_id(str(global_id))
    if parsed is None or parsed[0] != type_name:
        raise DomainError.one(code, f"No such {type_name}.", *field)
    return parsed[1]
