"""The ``ChargeCollector`` port: how the marketplace gets a shop's money for its app charges.

With Stripe configured, charges are invoiced to the shop's Stripe customer (invoice items, then
an invoice that is finalized and paid); without it, they are marked collected at once, the
money being handled outside Agora. Collection is what makes a charge *earned*: the partner's
tier and share are frozen on it then.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

__all__ = ["ChargeCollector", "CollectionRequest", "CollectionResult"]


@dataclass(frozen=True, slots=True)
class CollectionRequest:
    charge_id: int
    shop_id: int
    shop_name: str
    amount: int
    currency: str
    description: str


@dataclass(frozen=True, slots=True)
class CollectionResult:
    charge_id: int
    collected: bool
    invoice_id: str | None = None
    failure: str = ""


class ChargeCollector(Protocol):
    async def collect(self, requests: Sequence[CollectionRequest]) -> list[CollectionResult]:
        """Try to collect each charge; never raises for one charge's failure."""
        ...


class CollectedOutsideAgora:
    """No payment provider: the charges are settled outside Agora and count as collected."""

    async def collect(self, requests: Sequence[CollectionRequest]) -> list[CollectionResult]:
        return [CollectionResult(r.charge_id, collected=True) for r in requests]
