"""``app.idempotency.run_once`` with the marketplace's error codes.

Every money mutation of the marketplace takes an idempotency key; a bad key or a key reused
with other input must come back to the caller as the same field error everywhere, so the
translation lives here once.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.db import SessionFactory
from app.errors import DomainError
from app.idempotency import (
    MAX_KEY_LENGTH,
    IdempotencyConflictError,
    IdempotencyKeyError,
    run_once,
)
from marketplace.errors import MarketplaceErrorCode

__all__ = ["run_keyed"]


async def run_keyed(
    writer: SessionFactory,
    *,
    scope: str,
    key: str,
    request: Mapping[str, Any],
    effect: Callable[[AsyncSession], Awaitable[dict[str, Any]]],
    conflict: str = "This idempotency key was used with other input.",
) -> tuple[dict[str, Any], bool]:
    """``(result, replayed)``; a malformed key is INVALID and a reused one IDEMPOTENCY_CONFLICT,
    both on ``idempotencyKey``, with nothing written."""
    try:
        return await run_once(writer, scope=scope, key=key, request=request, effect=effect)
    except IdempotencyConflictError as error:
        raise DomainError.one(
            MarketplaceErrorCode.IDEMPOTENCY_CONFLICT, conflict, "idempotencyKey"
        ) from error
    except IdempotencyKeyError as error:
        raise DomainError.one(
            MarketplaceErrorCode.INVALID,
            f"Give an idempotency key of 1 to {MAX_KEY_LENGTH} characters.",
            "idempotencyKey",
        ) from error
