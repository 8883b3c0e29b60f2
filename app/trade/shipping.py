"""The ``ShippingQuoter`` port: how trade asks for shipping methods without knowing who prices
them.

Trade owns this protocol; logistics implements it with rate tables, and marketplace extensions
decorate it (strategic apps add or adjust methods). ``app/main.py`` wires the chain. A quoter
may call the network, so trade only ever asks it outside a database transaction.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

__all__ = ["QuoteRequest", "ShippingOption", "ShippingQuoter", "find_option"]


@dataclass(frozen=True, slots=True)
class QuoteRequest:
    """What a rate depends on: where the parcel goes, what the goods are worth, what they weigh.

    ``subtotal`` is in the shop currency's minor units, tax-inclusive like every price.
    """

    shop_id: int
    currency: str
    country_code: str
    region: str
    postal_code: str
    subtotal: int
    weight_grams: int


@dataclass(frozen=True, slots=True)
class ShippingOption:
    """One way to ship the cart, priced for it. ``code`` is unique within one quote."""

    code: str
    name: str
    amount: int
    currency: str
    min_delivery_days: int | None = None
    max_delivery_days: int | None = None
    # Set for a carrier-specific method ("DHL Express"): who will carry the parcel.
    carrier_code: str | None = None
    carrier_name: str | None = None


class ShippingQuoter(Protocol):
    async def quote(self, request: QuoteRequest) -> list[ShippingOption]:
        """The methods available for ``request``, cheapest first; empty when none ships there."""
        ...


def find_option(options: list[ShippingOption], code: str | None) -> ShippingOption | None:
    return next((o for o in options if o.code == code), None) if code else None
