"""Demo carriers and shipping rates, so the demo store can take and ship an order from
``make run`` on.

Three zones show the three ideas of the rate tables: a home market with free shipping over a
threshold and an express option (DHL's own), a wider zone priced by order value, and a far zone
priced by weight brackets, with one region (US-AK) carved out into a zone of its own. The
carriers' status tables map their real-world event codes to Agora's statuses.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.contact import PersonalDataCipher
from app.identity.models import Shop
from app.logistics.carriers import CarrierDraft, carrier_by_code, create_carrier
from app.logistics.models import RateBasis, ShippingRate, ShippingZone
from app.logistics.shipment_models import Carrier, ShipmentStatus

__all__ = ["seed_carriers", "seed_shipping"]

S = ShipmentStatus
_CARRIERS = [
    CarrierDraft(
        code="dhl",
        name="DHL Parcel",
        tracking_url_template="https://www.dhl.com/track?tracking-id={tracking_number}",
        status_map={
            "PU": S.PICKED_UP,
            "TR": S.IN_TRANSIT,
            "OD": S.OUT_FOR_DELIVERY,
            "OK": S.DELIVERED,
            "NH": S.EXCEPTION,
            "RT": S.RETURNED,
        },
    ),
    CarrierDraft(
        code="postnl",
        name="PostNL",
        tracking_url_template="https://jouw.postnl.nl/track-and-trace/{tracking_number}",
        status_map={
            "A01": S.PICKED_UP,
            "J01": S.IN_TRANSIT,
            "J05": S.OUT_FOR_DELIVERY,
            "I01": S.DELIVERED,
            "B01": S.EXCEPTION,
        },
    ),
    CarrierDraft(
        code="ups",
        name="UPS",
        tracking_url_template="https://www.ups.com/track?tracknum={tracking_number}",
        status_map={"P": S.PICKED_UP, "I": S.IN_TRANSIT, "O": S.OUT_FOR_DELIVERY, "D": S.DELIVERED},
    ),
]

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
                "carrier": "dhl",
                "name": "DHL Express, next day",
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


async def seed_carriers(session: AsyncSession, cipher: PersonalDataCipher) -> dict[str, str]:
    """Add the demo carriers that are missing: their webhook secrets, by code (shown once)."""
    secrets = {}
    for draft in _CARRIERS:
        if await carrier_by_code(session, draft.code) is None:
            _, secrets[draft.code] = await create_carrier(session, draft, cipher)
    return secrets


async def seed_shipping(session: AsyncSession, shop: Shop) -> int:
    """Add the demo zones unless the shop has zones already; returns how many were added."""
    if await session.scalar(
        select(func.count()).select_from(ShippingZone).where(ShippingZone.shop_id == shop.id)
    ):
        return 0
    carriers = {c.code: c.id for c in await session.scalars(select(Carrier))}
    for name, areas, rates in _ZONES:
        zone = ShippingZone(shop_id=shop.id, name=name, areas=areas)
        session.add(zone)
        await session.flush()
        for values in rates:
            fields = {k: v for k, v in values.items() if k != "carrier"}
            carrier = values.get("carrier")
            session.add(
                ShippingRate(
                    zone_id=zone.id,
                    currency=shop.currency,
                    carrier_id=carriers.get(str(carrier)) if carrier else None,
                    **fields,
                )
            )
    return len(_ZONES)
