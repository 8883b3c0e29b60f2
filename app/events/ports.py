"""What the dispatcher asks of the layers above it, wired in ``app/main.py``.

Events sit below every domain, so the marketplace (which knows subscriptions, installations
and app secrets) and the GraphQL adapter (which knows how a payload looks to the outside)
answer through these.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from app.events.models import OutboxEvent

__all__ = ["PayloadRenderer", "Route", "Router", "SecretLookup"]


@dataclass(frozen=True, slots=True)
class Route:
    """One subscriber of an event: which subscription, whose, where, in which payload version."""

    subscription_id: int
    app_id: int
    url: str
    payload_version: int


Router = Callable[[AsyncSession, Sequence[OutboxEvent]], Awaitable[Mapping[int, Sequence[Route]]]]
"""Events (by ``seq``) to their subscribers, read inside the routing transaction."""

SecretLookup = Callable[[Sequence[int]], Awaitable[Mapping[int, bytes]]]
"""App ids to their webhook secrets; an app missing from the answer has none any more."""

PayloadRenderer = Callable[[OutboxEvent, int], dict[str, Any]]
"""The JSON body of ``event`` at a payload version."""
