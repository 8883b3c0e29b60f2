"""Pricing a cart from the shop's rate tables: logistics' implementation of trade's
``ShippingQuoter``.

The rules, in order:

1. **One zone applies**: the most specific zone that lists the address. A zone listing the
   region (``US-CA``) beats one listing only the country (``US``) for an address in US/CA; among
   equally specific zones the oldest (lowest id) wins. Country and region are matched
   case-insensitively, and a region may be given bare (``CA``) or prefixed (``US-CA``); postal
   codes play no part, as no area is finer than a region. Rates of other zones are never mixed
   in, even when the chosen zone offers nothing for this cart: ops chose that zone to govern
   the address. No zone lists the address: no options.
2. **Rates within the zone**: each active rate in the request's currency whose basis value (the
   cart's weight in grams, or its subtotal in minor units) lies in ``[min_value, max_value)``
   is offered; a null ``max_value`` is unbounded.
3. **Price**: the rate's amount, or 0 when ``free_over`` is set and the subtotal is at or above
   it.
4. **Order**: cheapest first, then by code, so equal prices list the same way every time.

A quote is one SQL statement whatever the number of zones and rates: the shop's zones, each
outer-joined with its rates that fit the cart, so a zone without fitting rates still takes part
in rule 1. The zone is chosen in Python because area lists are JSON, which the two databases
query differently; a shop has a bounded number of zones.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import and_, or_, select

from app.db import SessionFactory
from app.logistics.models import RateBasis, ShippingRate, ShippingZone
from app.logistics.shipment_models import Carrier
from app.trade.shipping import QuoteRequest, ShippingOption

__all__ = ["RateTableQuoter", "area_codes"]

COUNTRY, REGION = 1, 2


def area_codes(country_code: str, region: str) -> tuple[str, str | None]:
    """The area codes an address falls in: its country, and its region as ``CC-RR`` if given."""
    country = country_code.strip().upper()
    region = region.strip().upper()
    region = region.removeprefix(f"{country}-")
    return country, f"{country}-{region}" if region else None


def _specificity(areas: Sequence[str], country: str, region: str | None) -> int:
    if region is not None and region in areas:
        return REGION
    return COUNTRY if country in areas else 0


def _fits(basis: RateBasis, value: int) -> Any:
    return and_(
        ShippingRate.basis == basis,
        ShippingRate.min_value <= value,
        or_(ShippingRate.max_value.is_(None), ShippingRate.max_value > value),
    )


class RateTableQuoter:
    """Quotes from the rate tables ops maintain; reads only, through ``reader``."""

    def __init__(self, reader: SessionFactory) -> None:
        self.reader = reader

    async def quote(self, request: QuoteRequest) -> list[ShippingOption]:
        country, region = area_codes(request.country_code, request.region)
        if not country:
            return []
        query = (
            select(
                ShippingZone.id,
                ShippingZone.areas,
                ShippingRate.code,
                ShippingRate.name,
                ShippingRate.amount,
                ShippingRate.free_over,
                ShippingRate.min_delivery_days,
                ShippingRate.max_delivery_days,
                Carrier.code.label("carrier_code"),
                Carrier.name.label("carrier_name"),
            )
            .outerjoin(
                ShippingRate,
                and_(
                    ShippingRate.zone_id == ShippingZone.id,
                    ShippingRate.active.is_(True),
                    ShippingRate.currency == request.currency,
                    or_(
                        _fits(RateBasis.WEIGHT, request.weight_grams),
                        _fits(RateBasis.SUBTOTAL, request.subtotal),
                    ),
                ),
            )
            .outerjoin(Carrier, Carrier.id == ShippingRate.carrier_id)
            .where(ShippingZone.shop_id == request.shop_id)
        )
        async with self.reader() as session:
            rows = (await session.execute(query)).all()
        chosen: tuple[int, int] | None = None  # (specificity, -zone id): the highest wins
        for row in rows:
            rank = (_specificity(row.areas, country, region), -row.id)
            if rank[0] and (chosen is None or rank > chosen):
                chosen = rank
        if chosen is None:
            return []
        options = [
            ShippingOption(
                code=row.code,
                name=row.name,
                amount=0
                if row.free_over is not None and request.subtotal >= row.free_over
                else row.amount,
                currency=request.currency,
                min_delivery_days=row.min_delivery_days,
                max_delivery_days=row.max_delivery_days,
                carrier_code=row.carrier_code,
                carrier_name=row.carrier_name,
            )
            for row in rows
            if row.id == -chosen[1] and row.code is not None
        ]
        return sorted(options, key=lambda option: (option.amount, option.code))
