"""Carriers through GraphQL, for ops: who ships, how their codes map, their webhook secret.

The webhook secret is returned once, by ``carrierCreate`` and ``carrierSecretRotate``; it is
stored sealed and never readable again. Audit records hold the carrier without its secrets.
"""

from __future__ import annotations

from typing import Any

import strawberry
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from strawberry.types import Info

from app.errors import DomainError
from app.logistics import carriers
from app.logistics import shipment_models as models
from app.logistics.errors import LogisticsErrorCode
from app.logistics.models import ShippingRate as RateRow
from app.security.audit import jsonable
from schema.auditing import Audit
from schema.logistics.rates import LogisticsError, ShippingRate, logistics_errors
from schema.logistics.shipment_types import Carrier, ShipmentStatusEnum
from schema.permissions import requires
from schema.transactions import pk_or_refuse, write

__all__ = ["CarrierMutation", "CarrierQuery"]

WRITE = requires("carrier", "write", domain="platform")
READ = requires("carrier", "read", domain="platform")


async def _carrier_state(session: AsyncSession, key: int) -> Any:
    row = await session.get(models.Carrier, key, populate_existing=True)
    if row is None:
        return None
    state = jsonable(row)
    for secret in ("sealed_secret", "sealed_previous_secret"):
        state.pop(secret, None)
    return state


@strawberry.type
class CarrierStatusMapping:
    carrier_code: str
    status: ShipmentStatusEnum  # type: ignore[valid-type]


@strawberry.type(description="A carrier as ops configures it.")
class CarrierDetails(Carrier):
    tracking_url_template: str
    active: bool
    status_map: list[CarrierStatusMapping]
    rotating: bool = strawberry.field(
        description="True while the previous webhook secret still verifies (after a rotation)."
    )

    @classmethod
    def of(cls, row: models.Carrier) -> CarrierDetails:  # type: ignore[override]
        base = Carrier.of(row)
        return cls(
            id=base.id,
            code=base.code,
            name=base.name,
            tracking_url_template=row.tracking_url_template,
            active=row.active,
            status_map=[
                CarrierStatusMapping(carrier_code=code, status=models.ShipmentStatus(status))
                for code, status in sorted(row.status_map.items())
            ],
            rotating=row.sealed_previous_secret is not None,
        )


@strawberry.input
class CarrierStatusMappingInput:
    carrier_code: str
    status: ShipmentStatusEnum  # type: ignore[valid-type]


@strawberry.input
class CarrierInput:
    code: str
    name: str
    tracking_url_template: str = strawberry.field(
        description="https://... with {tracking_number} where the number goes."
    )
    status_map: list[CarrierStatusMappingInput]
    active: bool = True

    def to_draft(self) -> carriers.CarrierDraft:
        return carriers.CarrierDraft(
            code=self.code,
            name=self.name,
            tracking_url_template=self.tracking_url_template,
            status_map={m.carrier_code: models.ShipmentStatus(m.status) for m in self.status_map},
            active=self.active,
        )


@strawberry.type
class CarrierPayload:
    carrier: CarrierDetails | None
    webhook_secret: str | None = strawberry.field(
        description="Only from carrierCreate and carrierSecretRotate: give it to the carrier "
        "now; it cannot be read again."
    )
    errors: list[LogisticsError]


@strawberry.type
class ShippingRatePayloadWithCarrier:
    shipping_rate: ShippingRate | None
    errors: list[LogisticsError]


def _carrier_pk(global_id: strawberry.ID) -> int:
    return pk_or_refuse(global_id, "Carrier", LogisticsErrorCode.NOT_FOUND, "id")


def _audit(before: strawberry.ID | None = None) -> Audit[Any]:
    return Audit(
        "Carrier",
        _carrier_state,
        target=lambda result: result[0].id,
        before=(lambda: _carrier_pk(before)) if before is not None else None,
        domain="platform",
    )


def _payload(result: Any, error: DomainError | None) -> CarrierPayload:
    row, secret = result or (None, None)
    return CarrierPayload(
        carrier=CarrierDetails.of(row) if row else None,
        webhook_secret=secret,
        errors=logistics_errors(error),
    )


@strawberry.type
class CarrierQuery:
    @strawberry.field(extensions=READ, description="Every carrier, active or not.")
    async def carriers(self, info: Info) -> list[CarrierDetails]:
        async with info.context.db.reader() as session:
            rows = await session.scalars(select(models.Carrier).order_by(models.Carrier.code))
            return [CarrierDetails.of(row) for row in rows]


@strawberry.type
class CarrierMutation:
    @strawberry.mutation(extensions=WRITE, description="Returns the webhook secret, once.")
    async def carrier_create(self, info: Info, input: CarrierInput) -> CarrierPayload | None:
        cipher = info.context.services.trade.cipher

        async def work(session: AsyncSession) -> tuple[models.Carrier, str]:
            return await carriers.create_carrier(session, input.to_draft(), cipher)

        result, error = await write(info, work, _audit())
        return _payload(result, error)

    @strawberry.mutation(extensions=WRITE, description="Replace the settings; secrets stay.")
    async def carrier_update(
        self, info: Info, id: strawberry.ID, input: CarrierInput
    ) -> CarrierPayload | None:
        async def work(session: AsyncSession) -> tuple[models.Carrier, None]:
            return await carriers.update_carrier(session, _carrier_pk(id), input.to_draft()), None

        result, error = await write(info, work, _audit(id))
        return _payload(result, error)

    @strawberry.mutation(
        extensions=WRITE,
        description="A new webhook secret, returned once. The previous one keeps verifying "
        "until the next rotation, so the carrier can switch without losing events.",
    )
    async def carrier_secret_rotate(self, info: Info, id: strawberry.ID) -> CarrierPayload | None:
        cipher = info.context.services.trade.cipher

        async def work(session: AsyncSession) -> tuple[models.Carrier, str]:
            return await carriers.rotate_carrier_secret(session, _carrier_pk(id), cipher)

        result, error = await write(info, work, _audit(id))
        return _payload(result, error)

    @strawberry.mutation(
        extensions=requires("shipping_rate", "write", domain="platform"),
        description="Make a rate a carrier's own method (carrierCode null: the shop's own).",
    )
    async def shipping_rate_carrier_set(
        self, info: Info, id: strawberry.ID, carrier_code: str | None
    ) -> ShippingRatePayloadWithCarrier | None:
        shop = info.context.require_shop()

        async def work(session: AsyncSession) -> RateRow:
            pk = pk_or_refuse(id, "ShippingRate", LogisticsErrorCode.NOT_FOUND, "id")
            return await carriers.set_rate_carrier(session, shop.id, pk, carrier_code)

        audit = Audit("ShippingRate", None, target=lambda row: row.id, domain="platform")
        row, error = await write(info, work, audit)
        return ShippingRatePayloadWithCarrier(
            shipping_rate=ShippingRate.of(row) if row else None, errors=logistics_errors(error)
        )
