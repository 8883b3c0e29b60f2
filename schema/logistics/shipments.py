"""Shipping an order and following it: ``orderFulfill`` and ``shipments`` for the shop, and a
public ``trackShipment`` that needs both the tracking number and the order number."""

from __future__ import annotations

import re
from datetime import datetime

import strawberry
from sqlalchemy import select
from strawberry.types import Info

from app.errors import DomainError
from app.logistics import carriers, queries
from app.logistics import shipment_models as models
from app.logistics.errors import LogisticsErrorCode
from app.logistics.fulfilment import FulfilRequest, fulfil_order_once
from app.logistics.live import publish_events
from app.pagination import fetch_page
from app.trade import buyer
from app.trade.fulfilment import FulfilmentLine
from app.trade.order_models import Order as OrderRow
from schema.auditing import Audit, change_recorder, row_state
from schema.inputs import aware_filter_time
from schema.logistics.rates import LogisticsError, logistics_errors
from schema.logistics.shipment_types import Carrier, Shipment, ShipmentStatusEnum, TrackingEvent
from schema.pagination import Connection, connection, page_request
from schema.permissions import requires
from schema.trade.common import Address
from schema.trade.order_types import Order
from schema.transactions import pk_or_refuse

__all__ = ["ShipmentMutation", "ShipmentQuery"]

_ORDER_NUMBER = re.compile(r"^#?(\d{1,9})$")


@strawberry.input
class FulfilmentLineInput:
    line_id: strawberry.ID
    quantity: int


@strawberry.input(description="One parcel: these lines, from this warehouse, with this carrier.")
class OrderFulfillInput:
    order_id: strawberry.ID
    lines: list[FulfilmentLineInput]
    warehouse_id: strawberry.ID
    carrier_code: str
    tracking_number: str
    idempotency_key: str


@strawberry.type
class OrderFulfillPayload:
    shipment: Shipment | None
    order: Order | None
    replayed: bool
    errors: list[LogisticsError]


@strawberry.input(description="Every field narrows the list; createdTo is exclusive.")
class ShipmentFilter:
    status: ShipmentStatusEnum | None = None  # type: ignore[valid-type]
    carrier_code: str | None = None
    tracking_number: str | None = None
    order_id: strawberry.ID | None = None
    created_from: datetime | None = None
    created_to: datetime | None = None

    def to_filter(self) -> queries.ShipmentFilter:
        order = None
        if self.order_id is not None:
            order = pk_or_refuse(self.order_id, "Order", LogisticsErrorCode.NOT_FOUND, "orderId")
        return queries.ShipmentFilter(
            status=models.ShipmentStatus(self.status) if self.status else None,
            carrier_code=self.carrier_code,
            tracking_number=self.tracking_number,
            order_id=order,
            created_from=aware_filter_time(self.created_from, "createdFrom"),
            created_to=aware_filter_time(self.created_to, "createdTo"),
        )


@strawberry.type(description="What anyone holding both numbers may see of a parcel.")
class TrackedShipment:
    tracking_number: str
    status: ShipmentStatusEnum  # type: ignore[valid-type]
    carrier: Carrier
    tracking_url: str
    estimated_delivery: datetime | None
    delivered_at: datetime | None
    events: list[TrackingEvent]
    destination: Address = strawberry.field(description="The street is masked.")


def _request(info: Info, input: OrderFulfillInput) -> FulfilRequest:
    code = LogisticsErrorCode.NOT_FOUND
    return FulfilRequest(
        shop_id=info.context.require_shop().id,
        order_id=pk_or_refuse(input.order_id, "Order", code, "orderId"),
        warehouse_id=pk_or_refuse(input.warehouse_id, "Warehouse", code, "warehouseId"),
        carrier_code=input.carrier_code,
        tracking_number=input.tracking_number,
        lines=tuple(
            FulfilmentLine(
                pk_or_refuse(line.line_id, "OrderLine", code, "lines", str(i), "lineId"),
                line.quantity,
            )
            for i, line in enumerate(input.lines)
        ),
        key=input.idempotency_key,
    )


async def _tracked(info: Info, tracking_number: str, order_number: int) -> TrackedShipment | None:
    shop = info.context.require_shop()
    async with info.context.db.reader() as session:
        found = (
            await session.execute(
                select(models.Shipment, OrderRow, models.Carrier)
                .join(OrderRow, OrderRow.id == models.Shipment.order_id)
                .join(models.Carrier, models.Carrier.id == models.Shipment.carrier_id)
                .where(
                    models.Shipment.shop_id == shop.id,
                    models.Shipment.tracking_number == tracking_number,
                    OrderRow.number == order_number,
                )
            )
        ).first()
        if found is None:
            return None
        shipment, order, carrier = found
        events = (await queries.events_by_shipment(session, [shipment.id])).get(shipment.id, [])
    address = buyer.open_address(order.shipping_address, info.context.services.trade.cipher)
    assert address is not None
    return TrackedShipment(
        tracking_number=shipment.tracking_number,
        status=shipment.status,
        carrier=Carrier.of(carrier),
        tracking_url=carriers.tracking_url(carrier, shipment.tracking_number),
        estimated_delivery=shipment.estimated_delivery,
        delivered_at=shipment.delivered_at,
        events=[TrackingEvent.of(e) for e in events],
        destination=Address.of(address, lambda _: False),
    )


@strawberry.type
class ShipmentQuery:
    @strawberry.field(
        extensions=requires("shipment", "read"),
        description="The shop's parcels, newest first, keyset-paginated.",
    )
    async def shipments(
        self,
        info: Info,
        filter: ShipmentFilter | None = None,
        first: int | None = None,
        after: str | None = None,
        last: int | None = None,
        before: str | None = None,
    ) -> Connection[Shipment]:
        context = info.context
        codec = context.services.cursors
        request = page_request(
            codec, queries.SHIPMENT_ORDER, first=first, after=after, last=last, before=before
        )
        try:
            spec = filter.to_filter() if filter else queries.ShipmentFilter()
        except DomainError:
            spec = queries.ShipmentFilter(order_id=0)  # an order ID of another kind: nothing
        query = queries.shipments_query(context.require_shop().id, spec)
        async with context.db.reader() as session:
            page = await fetch_page(session, query, queries.SHIPMENT_ORDER, request)
        return connection(codec, queries.SHIPMENT_ORDER, page, Shipment.of)

    @strawberry.field(
        description="A parcel's journey for anyone holding both its tracking number and its "
        "order number; null when they do not belong together."
    )
    async def track_shipment(
        self, info: Info, tracking_number: str, order_number: str
    ) -> TrackedShipment | None:
        number = _ORDER_NUMBER.match(order_number.strip())
        if number is None or not tracking_number.strip():
            return None
        return await _tracked(info, tracking_number.strip(), int(number.group(1)))


@strawberry.type
class ShipmentMutation:
    @strawberry.mutation(
        extensions=requires("fulfilment", "write"),
        description="Ship lines of a paid order (cash on delivery: unpaid too) as one parcel. "
        "Reserved stock becomes shipped stock. A replay of the key returns the same parcel.",
    )
    async def order_fulfill(
        self, info: Info, input: OrderFulfillInput
    ) -> OrderFulfillPayload | None:
        services = info.context.services
        recorder = change_recorder(
            info, Audit("Shipment", row_state(models.Shipment), target=lambda pk: pk)
        )
        try:
            done = await fulfil_order_once(
                services.db.writer,
                _request(info, input),
                now=services.clock(),
                on_fulfilled=recorder,
            )
        except DomainError as error:
            return OrderFulfillPayload(
                shipment=None, order=None, replayed=False, errors=logistics_errors(error)
            )
        await publish_events(services.broadcast, done.published)
        async with services.db.reader() as session:
            shipment = await session.get(models.Shipment, done.shipment_id)
            assert shipment is not None
            order = await session.get(OrderRow, shipment.order_id)
        return OrderFulfillPayload(
            shipment=Shipment.of(shipment),
            order=Order.of(order, services.trade.cipher) if order else None,
            replayed=done.replayed,
            errors=[],
        )
