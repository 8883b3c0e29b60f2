"""Carriers, paid orders and signed carrier webhooks, made straight through the services, so a
logistics test starts from the parcel it is about."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import select

from app.logistics import carriers
from app.logistics.fulfilment import FulfilRequest, fulfil_order_once
from app.logistics.shipment_models import ShipmentStatus
from app.security.signing import sign_request
from app.trade.fulfilment import FulfilmentLine
from app.trade.order_models import OrderLine
from tests.support.factories import World

__all__ = ["STATUS_MAP", "carrier_event", "make_carrier", "order_lines", "ship"]

S = ShipmentStatus
STATUS_MAP = {
    "PU": S.PICKED_UP,
    "TR": S.IN_TRANSIT,
    "OD": S.OUT_FOR_DELIVERY,
    "OK": S.DELIVERED,
    "NH": S.EXCEPTION,
    "RT": S.RETURNED,
    "CX": S.CANCELLED,
}


async def make_carrier(world: World, code: str | None = None) -> tuple[str, str]:
    """A new active carrier: (code, webhook secret)."""
    code = code or f"c{uuid.uuid4().hex[:10]}"
    draft = carriers.CarrierDraft(
        code=code,
        name=f"Carrier {code}",
        tracking_url_template="https://track.example/{tracking_number}",
        status_map=STATUS_MAP,
    )
    async with world.services.db.writer() as session, session.begin():
        _, secret = await carriers.create_carrier(session, draft, world.services.trade.cipher)
    return code, secret


async def order_lines(world: World, order_id: int) -> list[tuple[int, int]]:
    """The order's lines: (line id, quantity)."""
    async with world.services.db.reader() as session:
        rows = await session.execute(
            select(OrderLine.id, OrderLine.quantity)
            .where(OrderLine.order_id == order_id)
            .order_by(OrderLine.id)
        )
        return [(line_id, quantity) for line_id, quantity in rows]


async def ship(
    world: World,
    order_id: int,
    warehouse_id: int,
    carrier_code: str,
    tracking_number: str,
    lines: list[tuple[int, int]],
) -> int:
    """Fulfil ``lines`` as one parcel, through the service: the shipment's id."""
    done = await fulfil_order_once(
        world.services.db.writer,
        FulfilRequest(
            shop_id=world.shop.id,
            order_id=order_id,
            warehouse_id=warehouse_id,
            carrier_code=carrier_code,
            tracking_number=tracking_number,
            lines=tuple(FulfilmentLine(line, quantity) for line, quantity in lines),
            key=uuid.uuid4().hex,
        ),
        now=world.services.clock(),
    )
    return done.shipment_id


def carrier_event(
    carrier_code: str,
    secret: str,
    *,
    tracking_number: str,
    status: str,
    occurred_at: datetime,
    event_id: str | None = None,
    timestamp: int | None = None,
    **extra: Any,
) -> tuple[str, bytes, dict[str, str]]:
    """A signed carrier delivery: (path, body, headers), as the carrier would send it."""
    event_id = event_id or f"evt-{uuid.uuid4().hex}"
    body = orjson.dumps(
        {
            "event_id": event_id,
            "tracking_number": tracking_number,
            "status": status,
            "occurred_at": occurred_at.isoformat(),
            **extra,
        }
    )
    path = f"/webhooks/carriers/{carrier_code}"
    headers = sign_request(
        key=carrier_code,
        secret=secret,
        method="POST",
        path=path,
        body=body,
        nonce=event_id,
        timestamp=timestamp,
    )
    return path, body, {**headers, "content-type": "application/json"}
