"""Shipping zones and their rate tables, as ops maintain them for one shop.

Each function checks the whole request before it writes, so a refusal (``DomainError``) lists
every problem at once, each with the input path at fault (``("input", "areas", "2")``), and the
caller's transaction rolls back with nothing half-written. A zone or rate of another shop is
NOT_FOUND: it is never read, changed or confirmed to exist.

Zones per shop and rates per zone are bounded, so the zone list the API prices once as a plain
list stays small, and a quote reads a table of bounded size.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.errors import DomainError, Problem
from app.goods.variants import PriceInput, ShopScope
from app.logistics.errors import LogisticsErrorCode
from app.logistics.models import RateBasis, ShippingRate, ShippingZone
from app.logistics.validation import (
    API_NAMES,
    RateValues,
    check_areas,
    check_code,
    check_name,
    check_rate,
    input_problem,
    parse_price,
)

__all__ = [
    "KEEP",
    "MAX_RATES_PER_ZONE",
    "MAX_ZONES_PER_SHOP",
    "Keep",
    "RateChanges",
    "RateDraft",
    "ZoneChanges",
    "ZoneDraft",
    "ZoneTable",
    "create_rate",
    "create_zone",
    "delete_rate",
    "delete_zone",
    "update_rate",
    "update_zone",
    "zones_with_rates",
]

MAX_ZONES_PER_SHOP = 100
MAX_RATES_PER_ZONE = 100


class Keep(enum.Enum):
    """An update leaves a field marked ``KEEP`` as it is; ``None`` clears a nullable field."""

    KEEP = "keep"


KEEP = Keep.KEEP


@dataclass(frozen=True, slots=True)
class ZoneDraft:
    name: str
    areas: Sequence[str]


@dataclass(frozen=True, slots=True)
class ZoneChanges:
    name: str | Keep = KEEP
    areas: Sequence[str] | Keep = KEEP


@dataclass(frozen=True, slots=True)
class RateDraft:
    """A new rate. Bounds are grams (WEIGHT) or the shop currency's minor units (SUBTOTAL)."""

    code: str
    name: str
    basis: RateBasis
    price: PriceInput
    min_value: int = 0
    max_value: int | None = None
    free_over: PriceInput | None = None
    min_delivery_days: int | None = None
    max_delivery_days: int | None = None
    active: bool = True


@dataclass(frozen=True, slots=True)
class RateChanges:
    code: str | Keep = KEEP
    name: str | Keep = KEEP
    basis: RateBasis | Keep = KEEP
    price: PriceInput | Keep = KEEP
    min_value: int | Keep = KEEP
    max_value: int | Keep | None = KEEP
    free_over: PriceInput | Keep | None = KEEP
    min_delivery_days: int | Keep | None = KEEP
    max_delivery_days: int | Keep | None = KEEP
    active: bool | Keep = KEEP


@dataclass(frozen=True, slots=True)
class ZoneTable:
    """A zone with its rates (all of them, inactive ones too), oldest rate first."""

    zone: ShippingZone
    rates: list[ShippingRate]


async def _zone_of(session: AsyncSession, shop_id: int, zone_id: int) -> ShippingZone | None:
    return await session.scalar(
        select(ShippingZone).where(ShippingZone.id == zone_id, ShippingZone.shop_id == shop_id)
    )


async def _rate_of(session: AsyncSession, shop_id: int, rate_id: int) -> ShippingRate | None:
    return await session.scalar(
        select(ShippingRate)
        .join(ShippingZone, ShippingZone.id == ShippingRate.zone_id)
        .where(ShippingRate.id == rate_id, ShippingZone.shop_id == shop_id)
    )


async def _flush(session: AsyncSession, problem: Problem) -> None:
    """Flush, turning a unique-key race lost to a concurrent writer into the same refusal the
    pre-check gives; the caller's transaction then rolls back."""
    try:
        await session.flush()
    except IntegrityError as exc:
        raise DomainError([problem]) from exc


def _name_taken() -> Problem:
    return input_problem(LogisticsErrorCode.DUPLICATE_NAME, "Another zone has this name.", "name")


def _code_taken() -> Problem:
    return input_problem(
        LogisticsErrorCode.DUPLICATE_CODE, "Another rate in the zone has it.", "code"
    )


async def _zone_name_taken(
    session: AsyncSession, shop_id: int, name: str, except_id: int | None = None
) -> bool:
    query = select(ShippingZone.id).where(
        ShippingZone.shop_id == shop_id, ShippingZone.name == name
    )
    if except_id is not None:
        query = query.where(ShippingZone.id != except_id)
    return await session.scalar(query.limit(1)) is not None


async def _rate_code_taken(
    session: AsyncSession, zone_id: int, code: str, except_id: int | None = None
) -> bool:
    query = select(ShippingRate.id).where(
        ShippingRate.zone_id == zone_id, ShippingRate.code == code
    )
    if except_id is not None:
        query = query.where(ShippingRate.id != except_id)
    return await session.scalar(query.limit(1)) is not None


async def zones_with_rates(
    session: AsyncSession, shop_id: int, zone_ids: Sequence[int] | None = None
) -> list[ZoneTable]:
    """The shop's zones (or only ``zone_ids``), oldest first, with their rates: one statement."""
    query = (
        select(ShippingZone, ShippingRate)
        .outerjoin(ShippingRate, ShippingRate.zone_id == ShippingZone.id)
        .where(ShippingZone.shop_id == shop_id)
        .order_by(ShippingZone.id, ShippingRate.id)
    )
    if zone_ids is not None:
        query = query.where(ShippingZone.id.in_(zone_ids))
    tables: dict[int, ZoneTable] = {}
    for zone, rate in await session.execute(query):
        table = tables.setdefault(zone.id, ZoneTable(zone, []))
        if rate is not None:
            table.rates.append(rate)
    return list(tables.values())


async def create_zone(session: AsyncSession, shop_id: int, draft: ZoneDraft) -> ShippingZone:
    name = draft.name.strip()
    problems = check_name(draft.name)
    if not problems and await _zone_name_taken(session, shop_id, name):
        problems.append(_name_taken())
    problems += check_areas(draft.areas)
    zones = await session.scalar(
        select(func.count()).select_from(ShippingZone).where(ShippingZone.shop_id == shop_id)
    )
    if (zones or 0) >= MAX_ZONES_PER_SHOP:
        message = f"A shop has at most {MAX_ZONES_PER_SHOP} shipping zones."
        problems.append(Problem(LogisticsErrorCode.TOO_MANY_ZONES, message))
    if problems:
        raise DomainError(problems)
    zone = ShippingZone(shop_id=shop_id, name=name, areas=list(dict.fromkeys(draft.areas)))
    session.add(zone)
    await _flush(session, _name_taken())
    return zone


async def update_zone(
    session: AsyncSession, shop_id: int, zone_id: int, changes: ZoneChanges
) -> ShippingZone:
    zone = await _zone_of(session, shop_id, zone_id)
    problems = [] if zone else [Problem(LogisticsErrorCode.NOT_FOUND, "No such zone.", ("id",))]
    name = None if changes.name is KEEP else changes.name.strip()
    if changes.name is not KEEP:
        named = check_name(changes.name)
        if zone and not named and await _zone_name_taken(session, shop_id, name, zone_id):
            named.append(_name_taken())
        problems += named
    if changes.areas is not KEEP:
        problems += check_areas(changes.areas)
    if problems or zone is None:
        raise DomainError(problems)
    if name is not None:
        zone.name = name
    if changes.areas is not KEEP:
        zone.areas = list(dict.fromkeys(changes.areas))
    await _flush(session, _name_taken())
    return zone


async def delete_zone(session: AsyncSession, shop_id: int, zone_id: int) -> ZoneTable:
    """Delete a zone and its rates; returns them as they were."""
    found = await zones_with_rates(session, shop_id, [zone_id])
    if not found:
        raise DomainError.one(LogisticsErrorCode.NOT_FOUND, "No such zone.", "id")
    await session.execute(delete(ShippingRate).where(ShippingRate.zone_id == zone_id))
    await session.delete(found[0].zone)
    await session.flush()
    return found[0]


async def create_rate(
    session: AsyncSession, shop: ShopScope, zone_id: int, draft: RateDraft
) -> ShippingRate:
    problems: list[Problem] = []
    values = RateValues(
        code=draft.code,
        name=draft.name.strip(),
        basis=draft.basis,
        amount=parse_price(draft.price, shop.currency, problems, "price"),
        min_value=draft.min_value,
        max_value=draft.max_value,
        free_over=None
        if draft.free_over is None
        else parse_price(draft.free_over, shop.currency, problems, "freeOver"),
        min_delivery_days=draft.min_delivery_days,
        max_delivery_days=draft.max_delivery_days,
        active=draft.active,
    )
    problems += check_rate(values, set(API_NAMES))
    zone = await _zone_of(session, shop.id, zone_id)
    if zone is None:
        problems.append(Problem(LogisticsErrorCode.NOT_FOUND, "No such zone.", ("zoneId",)))
    else:
        rates = await session.scalar(
            select(func.count()).select_from(ShippingRate).where(ShippingRate.zone_id == zone_id)
        )
        if (rates or 0) >= MAX_RATES_PER_ZONE:
            message = f"A zone has at most {MAX_RATES_PER_ZONE} rates."
            problems.append(Problem(LogisticsErrorCode.TOO_MANY_RATES, message, ("zoneId",)))
        if check_code(values.code) and await _rate_code_taken(session, zone_id, values.code):
            problems.append(_code_taken())
    if problems:
        raise DomainError(problems)
    rate = ShippingRate(zone_id=zone_id, currency=shop.currency, **dataclasses.asdict(values))
    session.add(rate)
    await _flush(session, _code_taken())
    return rate


async def update_rate(
    session: AsyncSession, shop: ShopScope, rate_id: int, changes: RateChanges
) -> ShippingRate:
    rate = await _rate_of(session, shop.id, rate_id)
    if rate is None:
        raise DomainError.one(LogisticsErrorCode.NOT_FOUND, "No such rate.", "id")
    values = RateValues(**{name: getattr(rate, name) for name in API_NAMES})
    problems: list[Problem] = []
    given: set[str] = set()
    for change in dataclasses.fields(changes):
        value = getattr(changes, change.name)
        if value is KEEP:
            continue
        name = "amount" if change.name == "price" else change.name
        if isinstance(value, PriceInput):
            value = parse_price(value, shop.currency, problems, API_NAMES[name])
        elif name == "name":
            value = value.strip()
        setattr(values, name, value)
        given.add(name)
    problems += check_rate(values, given)
    if (
        "code" in given
        and check_code(values.code)
        and await _rate_code_taken(session, rate.zone_id, values.code, rate.id)
    ):
        problems.append(_code_taken())
    if problems:
        raise DomainError(problems)
    for name in given:
        setattr(rate, name, getattr(values, name))
    if "amount" in given:
        rate.currency = shop.currency
    await _flush(session, _code_taken())
    return rate


async def delete_rate(session: AsyncSession, shop_id: int, rate_id: int) -> ShippingRate:
    """Delete a rate; returns it as it was."""
    rate = await _rate_of(session, shop_id, rate_id)
    if rate is None:
        raise DomainError.one(LogisticsErrorCode.NOT_FOUND, "No such rate.", "id")
    await session.delete(rate)
    await session.flush()
    return rate
