"""Background loops that stop between rounds, so a shutdown never cuts a round in half.

``agora serve`` runs the jobs and the outbox dispatcher beside the API. On SIGTERM a round
already under way (a webhook being delivered, an order being expired) is let finish, within
``AGORA_SHUTDOWN_GRACE_SECONDS``; only a round that overstays that is cancelled. A loop asleep
between rounds wakes at once and ends.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

__all__ = ["Loop"]

log = logging.getLogger("agora.loops")


class Loop:
    """Runs ``round`` until stopped. ``round`` returns whether it found work: a busy loop goes
    again at once, an idle one sleeps ``interval`` seconds. A failing round is logged and the
    loop goes on, as every background loop in Agora does."""

    def __init__(self, name: str, round: Callable[[], Awaitable[bool]], interval: float) -> None:
        self.name = name
        self._round = round
        self._interval = interval
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> Loop:
        self._task = asyncio.create_task(self._run(), name=f"loop:{self.name}")
        return self

    async def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                busy = await self._round()
            except Exception:
                log.exception("a round of %s failed", self.name)
                busy = False
            if busy:
                await asyncio.sleep(0)  # a busy loop still lets the event loop run
            else:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._stopping.wait(), self._interval)

    async def stop(self, grace_seconds: float) -> None:
        """Ask the loop to end after its current round; cancel it past ``grace_seconds``."""
        self._stopping.set()
        task = self._task
        if task is None:
            return
        done, _ = await asyncio.wait({task}, timeout=grace_seconds)
        if not done:
            log.warning("%s did not finish its round in %ss; cancelling", self.name, grace_seconds)
            task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
