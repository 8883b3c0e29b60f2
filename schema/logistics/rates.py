"""Shipping zones and rate tables through GraphQL: ops maintain them for the request's shop.

Ops is a platform role, so every field here checks ``shipping_rate`` in the platform domain,
while the shop is still the one the X-Agora-Shop header names. Every change is audited in the
platform domain, in the change's own transaction. Zones are read with their rates in one
statement, so the list costs the same whatever its length.
"""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.errors import DomainError
from app.goods.variants import PriceInput
from app.logistics import zones
from app.logistics.errors import LogisticsErrorCode
from app.logistics.models import RateBasis
from app.logistics.models import ShippingRate as ShippingRateRow
from app.logistics.models import ShippingZone as ShippingZoneRow
from schema.auditing import Audit, child_rows_state, row_state
from schema.errors import UserError, user_errors
from schema.money import Money, MoneyInput
from schema.node import encode_id
from schema.permissions import requires
from schema.transactions import pk_or_refuse, write

__all__ = [
    "LogisticsError",
    "RatesMutation",
    "RatesQuery",
    "ShippingRate",
    "ShippingRateCreateInput",
    "ShippingRateUpdateInput",
    "ShippingZone",
    "ShippingZoneInput",
    "ShippingZoneUpdateInput",
    "logistics_errors",
]

ShippingRateBasis = strawberry.enum(RateBasis, name="ShippingRateBasis")
LogisticsErrorCodeEnum = strawberry.enum(LogisticsErrorCode, name="LogisticsErrorCode")

READ_RATES = requires("shipping_rate", "read", domain="platform")
WRITE_RATES = requires("shipping_rate", "write", domain="platform")
_RATE_STATE = row_state(ShippingRateRow)
_ZONE_ROW_STATE = row_state(ShippingZoneRow)
_ZONE_RATES_STATE = child_rows_state(ShippingRateRow.zone_id, ShippingRateRow.id)


async def _zone_state(session: AsyncSession, key: int) -> Any:
    """A zone's audit snapshot holds its rates too: deleting a zone deletes them."""
    zone = await _ZONE_ROW_STATE(session, key)
    return None if zone is None else {**zone, "rates": await _ZONE_RATES_STATE(session, key)}


@strawberry.type
class LogisticsError(UserError):
    code: LogisticsErrorCodeEnum  # type: ignore[valid-type]


def logistics_errors(error: DomainError | None) -> list[LogisticsError]:
    return [] if error is None else user_errors(error, LogisticsError, LogisticsErrorCodeEnum)


@strawberry.type(description="A price for carts whose weight or subtotal lies in a bracket.")
class ShippingRate:
    id: strawberry.ID
    code: str = strawberry.field(description="Unique in its zone; the option code checkout uses.")
    name: str
    basis: ShippingRateBasis  # type: ignore[valid-type]
    min_value: int = strawberry.field(
        description="Inclusive lower bound: grams (WEIGHT) or the shop currency's minor units "
        "(SUBTOTAL)."
    )
    max_value: int | None = strawberry.field(description="Exclusive upper bound; null: none.")
    price: Money
    free_over: Money | None = strawberry.field(
        description="At or above this subtotal the rate costs nothing."
    )
    active: bool
    min_delivery_days: int | None
    max_delivery_days: int | None
    carrier_pk: strawberry.Private[int | None] = None

    @strawberry.field(description="The carrier whose method this is, if it is one.")
    async def carrier_code(self, info: Info) -> str | None:
        if self.carrier_pk is None:
            return None
        row = await info.context.loaders.carrier.load(self.carrier_pk)
        return row.code if row else None

    @classmethod
    def of(cls, row: ShippingRateRow) -> ShippingRate:
        return cls(
            id=encode_id("ShippingRate", row.id),
            code=row.code,
            name=row.name,
            basis=row.basis,
            min_value=row.min_value,
            max_value=row.max_value,
            price=Money.of(row.amount, row.currency),
            free_over=None if row.free_over is None else Money.of(row.free_over, row.currency),
            active=row.active,
            min_delivery_days=row.min_delivery_days,
            max_delivery_days=row.max_delivery_days,
            carrier_pk=row.carrier_id,
        )


@strawberry.type(
    description="Areas priced by one rate table. An address takes the most specific zone "
    "listing it (region over country, then the oldest zone)."
)
class ShippingZone:
    id: strawberry.ID
    name: str
    areas: list[str] = strawberry.field(description='Countries ("DE") or regions ("US-CA").')
    rates: list[ShippingRate] = strawberry.field(description="Inactive ones too, oldest first.")

    @classmethod
    def of(cls, table: zones.ZoneTable) -> ShippingZone:
        return cls(
            id=encode_id("ShippingZone", table.zone.id),
            name=table.zone.name,
            areas=list(table.zone.areas),
            rates=[ShippingRate.of(rate) for rate in table.rates],
        )


@strawberry.input
class ShippingZoneInput:
    name: str
    areas: list[str] = strawberry.field(
        description='ISO 3166 countries ("DE") or regions ("US-CA"), in capitals; at most 300.'
    )


@strawberry.input(description="Fields left out are kept.")
class ShippingZoneUpdateInput:
    name: str | None = strawberry.UNSET
    areas: list[str] | None = strawberry.UNSET

    def to_changes(self) -> zones.ZoneChanges:
        return zones.ZoneChanges(name=_kept(self.name), areas=_kept(self.areas))


def _price(value: MoneyInput) -> PriceInput:
    return PriceInput(value.amount, value.currency_code)


def _price_change(value: Any) -> Any:
    return value if value is zones.KEEP or value is None else _price(value)


def _kept(value: Any) -> Any:
    """UNSET, or null for a field that cannot be cleared, keeps the value."""
    return zones.KEEP if value is strawberry.UNSET or value is None else value


def _cleared(value: Any) -> Any:
    """UNSET keeps a nullable value; null clears it."""
    return zones.KEEP if value is strawberry.UNSET else value


@strawberry.input
class ShippingRateCreateInput:
    code: str
    name: str
    basis: ShippingRateBasis  # type: ignore[valid-type]
    price: MoneyInput
    min_value: int = 0
    max_value: int | None = None
    free_over: MoneyInput | None = None
    min_delivery_days: int | None = None
    max_delivery_days: int | None = None
    active: bool = True

    def to_draft(self) -> zones.RateDraft:
        return zones.RateDraft(
            code=self.code,
            name=self.name,
            basis=self.basis,
            price=_price(self.price),
            min_value=self.min_value,
            max_value=self.max_value,
            free_over=None if self.free_over is None else _price(self.free_over),
            min_delivery_days=self.min_delivery_days,
            max_delivery_days=self.max_delivery_days,
            active=self.active,
        )


@strawberry.input(
    description="Fields left out are kept; null clears maxValue, freeOver and the delivery days."
)
class ShippingRateUpdateInput:
    code: str | None = strawberry.UNSET
    name: str | None = strawberry.UNSET
    basis: ShippingRateBasis | None = strawberry.UNSET  # type: ignore[valid-type]
    price: MoneyInput | None = strawberry.UNSET
    min_value: int | None = strawberry.UNSET
    max_value: int | None = strawberry.UNSET
    free_over: MoneyInput | None = strawberry.UNSET
    min_delivery_days: int | None = strawberry.UNSET
    max_delivery_days: int | None = strawberry.UNSET
    active: bool | None = strawberry.UNSET

    def to_changes(self) -> zones.RateChanges:
        return zones.RateChanges(
            code=_kept(self.code),
            name=_kept(self.name),
            basis=_kept(self.basis),
            price=_price_change(_kept(self.price)),
            min_value=_kept(self.min_value),
            max_value=_cleared(self.max_value),
            free_over=_price_change(_cleared(self.free_over)),
            min_delivery_days=_cleared(self.min_delivery_days),
            max_delivery_days=_cleared(self.max_delivery_days),
            active=_kept(self.active),
        )


@strawberry.type
class ShippingZonePayload:
    shipping_zone: ShippingZone | None
    errors: list[LogisticsError]


@strawberry.type
class ShippingZoneDeletePayload:
    deleted_id: strawberry.ID | None
    shipping_zone: ShippingZone | None = strawberry.field(description="As it was, with its rates.")
    errors: list[LogisticsError]


@strawberry.type
class ShippingRatePayload:
    shipping_rate: ShippingRate | None
    errors: list[LogisticsError]


@strawberry.type
class ShippingRateDeletePayload:
    deleted_id: strawberry.ID | None
    shipping_rate: ShippingRate | None = strawberry.field(description="As it was.")
    errors: list[LogisticsError]


def _zone_pk(global_id: strawberry.ID, argument: str = "id") -> int:
    return pk_or_refuse(global_id, "ShippingZone", LogisticsErrorCode.NOT_FOUND, argument)


def _rate_pk(global_id: strawberry.ID) -> int:
    return pk_or_refuse(global_id, "ShippingRate", LogisticsErrorCode.NOT_FOUND, "id")


def _zone_audit(before: strawberry.ID | None = None) -> Audit[ShippingZone]:
    return Audit(
        "ShippingZone",
        _zone_state,
        before=None if before is None else lambda: _zone_pk(before),
        domain="platform",
    )


def _rate_audit(before: strawberry.ID | None = None) -> Audit[ShippingRate]:
    return Audit(
        "ShippingRate",
        _RATE_STATE,
        before=None if before is None else lambda: _rate_pk(before),
        domain="platform",
    )


@strawberry.type
class RatesQuery:
    @strawberry.field(
        extensions=READ_RATES,
        description="Ops: the shop's shipping zones with their rates, oldest zone first.",
    )
    async def shipping_zones(self, info: Info) -> list[ShippingZone]:
        shop = info.context.require_shop()
        async with info.context.db.reader() as session:
            tables = await zones.zones_with_rates(session, shop.id)
        return [ShippingZone.of(table) for table in tables]


@strawberry.type
class RatesMutation:
    @strawberry.mutation(extensions=WRITE_RATES, description="Ops: a new zone, without rates.")
    async def shipping_zone_create(
        self, info: Info, input: ShippingZoneInput
    ) -> ShippingZonePayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> ShippingZone:
            draft = zones.ZoneDraft(name=input.name, areas=input.areas)
            row = await zones.create_zone(session, shop.id, draft)
            return ShippingZone.of(zones.ZoneTable(row, []))

        zone, error = await write(info, work, _zone_audit())
        return ShippingZonePayload(shipping_zone=zone, errors=logistics_errors(error))

    @strawberry.mutation(extensions=WRITE_RATES, description="Ops: rename a zone or relist areas.")
    async def shipping_zone_update(
        self, info: Info, id: strawberry.ID, input: ShippingZoneUpdateInput
    ) -> ShippingZonePayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> ShippingZone:
            row = await zones.update_zone(session, shop.id, _zone_pk(id), input.to_changes())
            (table,) = await zones.zones_with_rates(session, shop.id, [row.id])
            return ShippingZone.of(table)

        zone, error = await write(info, work, _zone_audit(before=id))
        return ShippingZonePayload(shipping_zone=zone, errors=logistics_errors(error))

    @strawberry.mutation(extensions=WRITE_RATES, description="Ops: delete a zone and its rates.")
    async def shipping_zone_delete(
        self, info: Info, id: strawberry.ID
    ) -> ShippingZoneDeletePayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> ShippingZone:
            return ShippingZone.of(await zones.delete_zone(session, shop.id, _zone_pk(id)))

        zone, error = await write(info, work, _zone_audit(before=id))
        return ShippingZoneDeletePayload(
            deleted_id=zone.id if zone else None, shipping_zone=zone, errors=logistics_errors(error)
        )

    @strawberry.mutation(extensions=WRITE_RATES, description="Ops: a new rate in a zone.")
    async def shipping_rate_create(
        self, info: Info, zone_id: strawberry.ID, input: ShippingRateCreateInput
    ) -> ShippingRatePayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> ShippingRate:
            zone = _zone_pk(zone_id, "zoneId")
            return ShippingRate.of(await zones.create_rate(session, shop, zone, input.to_draft()))

        rate, error = await write(info, work, _rate_audit())
        return ShippingRatePayload(shipping_rate=rate, errors=logistics_errors(error))

    @strawberry.mutation(extensions=WRITE_RATES, description="Ops: change a rate.")
    async def shipping_rate_update(
        self, info: Info, id: strawberry.ID, input: ShippingRateUpdateInput
    ) -> ShippingRatePayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> ShippingRate:
            row = await zones.update_rate(session, shop, _rate_pk(id), input.to_changes())
            return ShippingRate.of(row)

        rate, error = await write(info, work, _rate_audit(before=id))
        return ShippingRatePayload(shipping_rate=rate, errors=logistics_errors(error))

    @strawberry.mutation(extensions=WRITE_RATES, description="Ops: delete a rate.")
    async def shipping_rate_delete(
        self, info: Info, id: strawberry.ID
    ) -> ShippingRateDeletePayload | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> ShippingRate:
            return ShippingRate.of(await zones.delete_rate(session, shop.id, _rate_pk(id)))

        rate, error = await write(info, work, _rate_audit(before=id))
        return ShippingRateDeletePayload(
            deleted_id=rate.id if rate else None, shipping_rate=rate, errors=logistics_errors(error)
        )
