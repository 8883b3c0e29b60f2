"""Which shop a request names, with a short in-process cache.

Every request names a shop and shops almost never change, so looking one up costs a statement
only once per ``ttl`` seconds per worker. A renamed or new shop is seen within that time.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from app.db import SessionFactory
from app.identity.models import Shop
from app.identity.service import default_shop, shop_by_handle

__all__ = ["ShopDirectory"]

_DEFAULT = ""


class ShopDirectory:
    def __init__(
        self,
        reader: SessionFactory,
        *,
        ttl_seconds: float = 30,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._reader = reader
        self._ttl = ttl_seconds
        self._clock = clock
        self._known: dict[str, tuple[float, Shop]] = {}

    async def by_id(self, shop_id: int) -> Shop | None:
        """A shop by key (a shop-scoped token's own shop), through the same cache."""
        key = f"#{shop_id}"
        cached = self._known.get(key)
        now = self._clock()
        if cached is not None and cached[0] > now:
            return cached[1]
        async with self._reader() as session:
            shop = await session.get(Shop, shop_id)
        if shop is not None:
            self._known[key] = (now + self._ttl, shop)
        return shop

    async def resolve(self, handle: str | None) -> tuple[Shop | None, str | None]:
        """The shop, or None with a problem to report (an unknown handle)."""
        key = handle or _DEFAULT
        cached = self._known.get(key)
        now = self._clock()
        if cached is not None and cached[0] > now:
            return cached[1], None
        async with self._reader() as session:
            shop = await (shop_by_handle(session, handle) if handle else default_shop(session))
        if shop is None:
            self._known.pop(key, None)
            return None, f"No shop has the handle {handle!r}." if handle else None
        self._known[key] = (now + self._ttl, shop)
        return shop, None
