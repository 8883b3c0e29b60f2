"""Load shedding and per-principal concurrency, counted in this process.

Each priority may use only a share of the in-flight capacity: standard traffic is refused once
half of it is busy, advanced at 80 %, strategic only when it is all in use. So under overload
the lowest priorities go first and strategic partners keep a reserved share.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from app.limits.policy import Priority

__all__ = ["InFlight", "Refusal"]

SHARES = {Priority.STANDARD: 0.5, Priority.ADVANCED: 0.8, Priority.STRATEGIC: 1.0}


class Refusal(Exception):
    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


@dataclass
class InFlight:
    capacity: int
    total: int = 0
    by_subject: Counter[str] = field(default_factory=Counter)

    def enter(self, subject: str, priority: Priority, concurrency: int) -> None:
        """Count a request in, or raise ``Refusal`` ("overloaded" or "concurrency")."""
        if self.total >= self.capacity * SHARES[priority]:
            raise Refusal("overloaded")
        if self.by_subject[subject] >= concurrency:
            raise Refusal("concurrency")
        self.total += 1
        self.by_subject[subject] += 1

    def leave(self, subject: str) -> None:
        self.total -= 1
        self.by_subject[subject] -= 1
        if self.by_subject[subject] <= 0:
            del self.by_subject[subject]
