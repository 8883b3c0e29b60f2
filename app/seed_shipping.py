"""Demo shipping rates, so that the demo store can take an order from ``make run`` on.

Three zones show the three ideas of the rate tables: a home market with free shipping over a
threshold and an express option, a wider zone priced by order value, and a far zone priced by
weight brackets, with one region (US-AK) carved out into a zone of its own.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.identity.models import Shop
from app.logistics.models import RateBasis, ShippingRate, ShippingZone

__all__ = ["seed_shipping"]

_ZONES: list[tuple[str, list[str], list[dict[str, object]]]] = [
    (
        "Benelux & Germany",
        ["NL", "BE", "LU", "DE"],
        [
            {
                "code": "standard",
                "name": "Standard (PostNL / DHL)",
                "basis": RateBasis.SUBTOTAL,
                "amount": 495,
                "free_over": 5000,
                "min_delivery_days": 1,
                "max_delivery_days": 3,
            },
            {
                "code": "express",
                "name": "Express, next day",
                "basis": RateBasis.SUBTOTAL,
                "amount": 1250,
                "min_delivery_days": 1,
                "max_delivery_days": 1,
            },
        ],
    ),
    (
        "Rest of Europe",
        ["FR", "AT", "IT", "ES", "PT", "DK", "SE", "FI", "PL", "CZ", "IE"],
        [
            {
                "code": "standard",
                "name": "Standard",
                "basis": RateBasis.SUBTOTAL,
                "amount": 995,
                "max_value": 10000,
                "min_delivery_days": 3,
                "max_delivery_days": 6,
            },
            {
                "code": "standard-plus",
                "name": "Standard, tracked",
                "basis": RateBasis.SUBTOTAL,
                "amount": 0,
                "min_value": 10000,
                "min_delivery_days": 3,
                "max_delivery_days": 6,
            },
        ],
    ),
    (
        "United States",
        ["US"],
        [
            {
                "code": "light",
                "name": "International, up to 2 kg",
                "basis": RateBasis.WEIGHT,
                "amount": 1995,
                "max_value": 2000,
                "min_delivery_days": 5,
                "max_delivery_days": 10,
            },
            {
                "code": "heavy",
                "name": "International, 2 kg and over",
                "basis": RateBasis.WEIGHT,
                "amount": 3995,
                "min_value": 2000,
                "min_delivery_days": 5,
                "max_delivery_days": 10,
            },
        ],
    ),
    (
        "Alaska",
        ["US-AK"],
        [
            {
                "code": "remote",
                "name": "Remote area",
                "basis": RateBasis.SUBTOTAL,
                "amount": 4995,
                "min_delivery_days": 7,
                "max_delivery_days": 14,
            }
        ],
    ),
]


async def seed_shipping(session: AsyncSession, shop: Shop) -> int:
    """Add the demo zones unless the shop has zones already; returns how many were added."""
    if await session.scalar(
        select(func.count()).select_from(ShippingZone).where(ShippingZone.shop_id == shop.id)
    ):
        return 0
    for name, areas, rates in _ZONES:
        zone = ShippingZone(shop_id=shop.id, name=name, areas=areas)
        session.add(zone)
        await session.flush()
        session.add_all(ShippingRate(zone_id=zone.id, currency=shop.currency, **r) for r in rates)
    return len(_ZONES)
