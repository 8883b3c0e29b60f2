"""A clock the tests can move, injected into the app instead of the wall clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


class MutableClock:
    def __init__(self) -> None:
        self.offset = timedelta()

    def __call__(self) -> datetime:
        return datetime.now(UTC) + self.offset

    def advance(self, seconds: float) -> None:
        self.offset += timedelta(seconds=seconds)

    def reset(self) -> None:
        self.offset = timedelta()
