"""``POST /webhooks/carriers/{code}`` as carriers call it: signed deliveries move parcels along,
while forged, stale, replayed, malformed, illegal and late deliveries never corrupt a timeline."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from app.logistics.carriers import carrier_by_code
from app.logistics.shipment_models import CarrierEvent
from app.security.signing import sign_request
from app.trade.order_models import OrderAllocation
from tests.support.clock import MutableClock
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.shipping import carrier_event, make_carrier, order_lines, ship
from tests.support.trade import place_order

pytestmark = pytest.mark.anyio

Signed = tuple[str, bytes, dict[str, str]]  # (path, body, headers) as a carrier sends them

SHIPMENTS = """query($id: ID!) { order(id: $id) { fulfillmentStatus shipments {
  trackingNumber status estimatedDelivery events { status rawCode occurredAt applied } } } }"""
FULFIL = """mutation($i: OrderFulfillInput!) { orderFulfill(input: $i) {
  shipment { status events { status rawCode } } errors { code } } }"""
CARRIER_UPDATE = """mutation($id: ID!, $c: String!) { carrierUpdate(id: $id, input: {code: $c,
  name: "Parcels", trackingUrlTemplate: "https://t.example/{tracking_number}",
  statusMap: [{carrierCode: "OK", status: DELIVERED}], active: false}) { errors { code } } }"""
ROTATE = "mutation($id: ID!) { carrierSecretRotate(id: $id) { webhookSecret errors { code } } }"


@dataclass
class Parcel:
    """One shipped parcel, its carrier's signed deliveries, and the shop's view of it."""

    world: World
    gql: GraphQLClient
    http: httpx.AsyncClient
    clock: MutableClock
    staff: int
    code: str
    secret: str
    order: int
    tracking: str
    shipped_at: datetime

    def at(self, minutes: int) -> datetime:
        return self.shipped_at + timedelta(minutes=minutes)

    def signed(self, status: str, minutes: int, **options: Any) -> Signed:
        options.setdefault("tracking_number", self.tracking)
        options.setdefault("timestamp", int(self.clock().timestamp()))
        secret = options.pop("secret", self.secret)
        return carrier_event(
            self.code, secret, status=status, occurred_at=self.at(minutes), **options
        )

    async def post(self, request: Signed) -> httpx.Response:
        path, body, headers = request
        return await self.http.post(path, content=body, headers=headers)

    async def send(self, status: str, minutes: int, **options: Any) -> httpx.Response:
        return await self.post(self.signed(status, minutes, **options))

    async def view(self) -> dict[str, Any]:
        token = self.world.services.tokens.issue(f"user:{self.staff}")
        found = await self.gql(
            SHIPMENTS, {"id": gid("Order", self.order)}, shop=self.world.handle, token=token
        )
        shipments = found.ok()["order"]["shipments"]
        [shipment] = [s for s in shipments if s["trackingNumber"] == self.tracking]
        return shipment  # type: ignore[no-any-return]

    async def timeline(self) -> list[tuple[str, bool]]:
        return [(e["status"], e["applied"]) for e in (await self.view())["events"]]

    async def inbox(self) -> int:
        """Deliveries recorded for this carrier (the dedupe ledger and the waiting room)."""
        async with self.world.services.db.reader() as session:
            carrier = await carrier_by_code(session, self.code)
            assert carrier is not None
            query = select(func.count()).where(CarrierEvent.carrier_id == carrier.id)
            return int(await session.scalar(query) or 0)


async def _warehouse_of(world: World, line: int) -> int:
    """Where the line's units are held."""
    async with world.services.db.reader() as session:
        query = select(OrderAllocation.warehouse_id).where(OrderAllocation.line_id == line)
        warehouse = await session.scalar(query)
    assert warehouse is not None
    return int(warehouse)


@pytest.fixture
async def parcel(
    world: World, gql: GraphQLClient, http: httpx.AsyncClient, clock: MutableClock
) -> Parcel:
    staff, _ = await world.user("business")
    code, secret = await make_carrier(world)
    order = await place_order(world, paid=True, quantity=2)
    lines = await order_lines(world, order)
    warehouse = await _warehouse_of(world, lines[0][0])
    tracking = f"TN{uuid.uuid4().hex[:12].upper()}"
    shipped_at = clock()
    await ship(world, order, warehouse, code, tracking, lines)
    clock.advance(3600)  # an hour later the carrier reports what happened meanwhile
    return Parcel(world, gql, http, clock, staff, code, secret, order, tracking, shipped_at)


def _code(response: httpx.Response) -> str:
    return str(response.json()["errors"][0]["extensions"]["code"])


def _headers(request: Signed, *drop: str, **replace: str) -> Signed:
    path, body, sent = request
    return path, body, {k: v for k, v in sent.items() if k not in drop} | replace


@pytest.mark.parametrize(
    ("forge", "code"),
    [
        ("tampered signature", "SIGNATURE_INVALID"),
        ("wrong secret", "SIGNATURE_INVALID"),
        ("tampered body", "SIGNATURE_INVALID"),
        ("301 s behind", "SIGNATURE_EXPIRED"),
        ("301 s ahead", "SIGNATURE_EXPIRED"),
        ("no signature header", "SIGNATURE_MISSING"),
        ("no timestamp header", "SIGNATURE_MISSING"),
        ("no signing headers at all", "SIGNATURE_MISSING"),
        ("another carrier's key", "SIGNATURE_KEY_UNKNOWN"),
    ],
)
async def test_a_forged_or_stale_delivery_is_refused_and_changes_nothing(
    parcel: Parcel, forge: str, code: str
) -> None:
    event_id = f"evt-{uuid.uuid4().hex}"
    genuine = parcel.signed("PU", 5, event_id=event_id)
    now = int(parcel.clock().timestamp())
    path, body, headers = genuine
    forged = {
        "tampered signature": _headers(genuine, **{"X-Agora-Signature": "0" * 64}),
        "wrong secret": parcel.signed("PU", 5, event_id=event_id, secret="whsec_guess"),
        "tampered body": (path, body.replace(b'"PU"', b'"OK"'), headers),
        "301 s behind": parcel.signed("PU", 5, event_id=event_id, timestamp=now - 301),
        "301 s ahead": parcel.signed("PU", 5, event_id=event_id, timestamp=now + 301),
        "no signature header": _headers(genuine, "X-Agora-Signature"),
        "no timestamp header": _headers(genuine, "X-Agora-Timestamp"),
        "no signing headers at all": _headers(
            genuine, "X-Agora-Key", "X-Agora-Timestamp", "X-Agora-Nonce", "X-Agora-Signature"
        ),
        "another carrier's key": _headers(genuine, **{"X-Agora-Key": "someone-else"}),
    }[forge]
    refused = await parcel.post(forged)
    assert (refused.status_code, _code(refused)) == (401, code)
    assert (await parcel.view())["status"] == "LABEL_CREATED"
    assert await parcel.timeline() == [("LABEL_CREATED", True)]
    assert await parcel.inbox() == 0
    # The refusal burned nothing: the carrier's genuine delivery of that event still counts.
    assert (await parcel.post(genuine)).status_code == 200
    assert (await parcel.view())["status"] == "PICKED_UP"


async def test_a_timestamp_within_300_s_is_accepted(parcel: Parcel) -> None:
    now = int(parcel.clock().timestamp())
    assert (await parcel.send("PU", 5, timestamp=now - 290)).status_code == 200
    assert (await parcel.send("TR", 6, timestamp=now + 290)).status_code == 200
    assert (await parcel.view())["status"] == "IN_TRANSIT"


async def test_an_unknown_carrier_in_the_path_is_refused(parcel: Parcel) -> None:
    path, body, headers = parcel.signed("PU", 5)
    answer = await parcel.http.post(path + "x", content=body, headers=headers)
    assert (answer.status_code, _code(answer)) == (401, "SIGNATURE_KEY_UNKNOWN")
    assert (await parcel.view())["status"] == "LABEL_CREATED"


async def test_the_same_event_delivered_twice_is_recorded_once(parcel: Parcel) -> None:
    request = parcel.signed("PU", 5)
    first, second = await parcel.post(request), await parcel.post(request)
    assert (first.status_code, first.json()) == (200, {"received": True, "applied": True})
    assert (await parcel.view())["status"] == "PICKED_UP"
    assert (second.status_code, second.json()) == (200, {"received": True, "duplicate": True})
    # A retry later, signed afresh with the same event id, is a duplicate too.
    parcel.clock.advance(900)
    event_id = orjson.loads(request[1])["event_id"]
    retry = await parcel.send("PU", 5, event_id=event_id)
    assert retry.json() == {"received": True, "duplicate": True}
    assert await parcel.timeline() == [("LABEL_CREATED", True), ("PICKED_UP", True)]
    assert await parcel.inbox() == 1


async def test_an_unmapped_carrier_code_is_kept_as_unknown_and_moves_nothing(
    parcel: Parcel,
) -> None:
    assert (await parcel.send("ZZ9", 5)).status_code == 200
    shipment = await parcel.view()
    assert shipment["status"] == "LABEL_CREATED"
    assert [(e["status"], e["rawCode"], e["applied"]) for e in shipment["events"]] == [
        ("LABEL_CREATED", "", True),
        ("UNKNOWN", "ZZ9", False),
    ]


async def test_the_answer_says_applied_false_when_the_status_did_not_move(
    parcel: Parcel,
) -> None:
    """The carrier (and whoever reads its delivery log) is told what the event did."""
    assert (await parcel.send("TR", 20)).json() == {"received": True, "applied": True}
    unmapped, late = await parcel.send("ZZ9", 25), await parcel.send("PU", 10)
    assert (await parcel.view())["status"] == "IN_TRANSIT"
    assert unmapped.json() == {"received": True, "applied": False}
    assert late.json() == {"received": True, "applied": False}


async def test_an_event_for_an_unknown_parcel_waits_and_applies_when_it_ships(
    parcel: Parcel, world: World
) -> None:
    """The carrier scanned the parcel before the shop told Agora about it."""
    order = await place_order(world, paid=True)
    [(line, quantity)] = await order_lines(world, order)
    tracking = f"EARLY{uuid.uuid4().hex[:10].upper()}"
    early = await parcel.send("PU", 50, tracking_number=tracking)
    assert (early.status_code, early.json()) == (202, {"received": True, "matched": False})
    assert await parcel.inbox() == 1

    parcel.clock.advance(60)
    token = world.services.tokens.issue(f"user:{parcel.staff}")
    fields = {
        "orderId": gid("Order", order),
        "lines": [{"lineId": gid("OrderLine", line), "quantity": quantity}],
        "warehouseId": gid("Warehouse", await _warehouse_of(world, line)),
        "carrierCode": parcel.code,
        "trackingNumber": tracking,
        "idempotencyKey": uuid.uuid4().hex,
    }
    shipped = (await parcel.gql(FULFIL, {"i": fields}, shop=world.handle, token=token)).ok()
    payload = shipped["orderFulfill"]
    assert payload["errors"] == []
    assert ("PICKED_UP", "PU") in [
        (e["status"], e["rawCode"]) for e in payload["shipment"]["events"]
    ]
    # The carrier's scan happened before the label was registered, yet it is the news.
    assert payload["shipment"]["status"] == "PICKED_UP"
    assert await parcel.inbox() == 1


async def test_an_illegal_transition_is_refused_with_409(parcel: Parcel) -> None:
    assert (await parcel.send("OK", 10)).status_code == 200
    late_pickup = await parcel.send("PU", 20)
    assert (late_pickup.status_code, _code(late_pickup)) == (409, "ILLEGAL_TRANSITION")
    shipment = await parcel.view()
    assert shipment["status"] == "DELIVERED"
    # Kept in the timeline (nothing is lost), but it decides nothing.
    assert [(e["status"], e["applied"]) for e in shipment["events"]] == [
        ("LABEL_CREATED", True),
        ("DELIVERED", True),
        ("PICKED_UP", False),
    ]


async def test_a_parcel_in_transit_can_no_longer_be_cancelled(parcel: Parcel) -> None:
    assert (await parcel.send("TR", 10)).status_code == 200
    cancel = await parcel.send("CX", 20)
    assert (cancel.status_code, _code(cancel)) == (409, "ILLEGAL_TRANSITION")
    assert (await parcel.view())["status"] == "IN_TRANSIT"
    # The journey goes on after the refusal.
    assert (await parcel.send("OD", 30)).status_code == 200
    assert (await parcel.view())["status"] == "OUT_FOR_DELIVERY"


async def test_a_late_event_takes_its_place_in_the_timeline_and_never_moves_the_status_back(
    parcel: Parcel,
) -> None:
    assert (await parcel.send("PU", 10)).status_code == 200
    assert (await parcel.send("OD", 30)).status_code == 200
    late = await parcel.send("TR", 20)
    assert late.status_code == 200
    assert late.json()["applied"] is False  # the status did not move
    shipment = await parcel.view()
    assert shipment["status"] == "OUT_FOR_DELIVERY"
    # In its place by time, a step of the journey that happened before the current status.
    assert [(e["status"], e["applied"]) for e in shipment["events"]] == [
        ("LABEL_CREATED", True),
        ("PICKED_UP", True),
        ("IN_TRANSIT", True),
        ("OUT_FOR_DELIVERY", True),
    ]
    times = [datetime.fromisoformat(e["occurredAt"]) for e in shipment["events"]]
    assert times == sorted(times)


async def test_a_late_event_does_not_bring_back_an_older_delivery_estimate(
    parcel: Parcel,
) -> None:
    newer = parcel.at(60 * 48).replace(microsecond=0)
    older = parcel.at(60 * 24).replace(microsecond=0)
    assert (await parcel.send("TR", 20, estimated_delivery=newer.isoformat())).status_code == 200
    assert (await parcel.send("PU", 10, estimated_delivery=older.isoformat())).status_code == 200
    assert datetime.fromisoformat((await parcel.view())["estimatedDelivery"]) == newer


async def test_a_late_exception_does_not_override_a_newer_delivery_attempt(
    parcel: Parcel,
) -> None:
    """Out for delivery, nobody home (NH), out for delivery again; the NH scan arrives last."""
    assert (await parcel.send("OD", 10)).status_code == 200
    assert (await parcel.send("OD", 30)).status_code == 200
    assert (await parcel.send("NH", 20)).status_code == 200
    assert (await parcel.view())["status"] == "OUT_FOR_DELIVERY"


@pytest.mark.parametrize(
    ("problem", "body"),
    [
        ("not JSON", b"{not json"),
        ("not an object", b'["PU"]'),
        ("event id is not the nonce", {"event_id": "evt-something-else-entirely"}),
        ("naive occurred_at", {"occurred_at": "2030-01-01T10:00:00"}),
        ("naive estimated_delivery", {"estimated_delivery": "2030-01-03T10:00:00"}),
        ("no occurred_at", {"occurred_at": None}),
        ("bad tracking number", {"tracking_number": "\n"}),
        ("no status", {"status": None}),
    ],
)
async def test_a_malformed_delivery_is_a_400_and_its_corrected_resend_applies(
    parcel: Parcel, problem: str, body: bytes | dict[str, Any]
) -> None:
    nonce = f"evt-{uuid.uuid4().hex}"
    good = {
        "event_id": nonce,
        "tracking_number": parcel.tracking,
        "status": "PU",
        "occurred_at": parcel.at(5).isoformat(),
    }
    raw = body if isinstance(body, bytes) else orjson.dumps({**good, **body})
    path = f"/webhooks/carriers/{parcel.code}"
    headers = sign_request(
        key=parcel.code,
        secret=parcel.secret,
        method="POST",
        path=path,
        body=raw,
        nonce=nonce,
        timestamp=int(parcel.clock().timestamp()),
    )
    refused = await parcel.http.post(path, content=raw, headers=headers)
    assert (refused.status_code, _code(refused)) == (400, "BAD_REQUEST"), problem
    assert await parcel.inbox() == 0
    assert await parcel.timeline() == [("LABEL_CREATED", True)]
    fixed = await parcel.send("PU", 5, event_id=nonce)
    assert fixed.status_code == 200
    assert (await parcel.view())["status"] == "PICKED_UP"


async def _carrier_gid(parcel: Parcel) -> str:
    async with parcel.world.services.db.reader() as session:
        carrier = await carrier_by_code(session, parcel.code)
    assert carrier is not None
    return gid("Carrier", carrier.id)


async def test_after_a_rotation_both_secrets_verify_and_after_the_next_the_oldest_does_not(
    parcel: Parcel,
) -> None:
    _, ops = await parcel.world.user("ops", domain="platform")
    carrier = await _carrier_gid(parcel)
    rotate = await parcel.gql(ROTATE, {"id": carrier}, shop=parcel.world.handle, token=ops)
    second = rotate.ok()["carrierSecretRotate"]["webhookSecret"]
    assert second.startswith("whsec_") and second != parcel.secret
    assert (await parcel.send("PU", 5, secret=parcel.secret)).status_code == 200
    assert (await parcel.send("TR", 6, secret=second)).status_code == 200

    rotate = await parcel.gql(ROTATE, {"id": carrier}, shop=parcel.world.handle, token=ops)
    third = rotate.ok()["carrierSecretRotate"]["webhookSecret"]
    oldest = await parcel.send("OD", 7, secret=parcel.secret)
    assert (oldest.status_code, _code(oldest)) == (401, "SIGNATURE_INVALID")
    assert (await parcel.send("OD", 8, secret=second)).status_code == 200
    assert (await parcel.send("OK", 9, secret=third)).status_code == 200
    assert (await parcel.view())["status"] == "DELIVERED"
    assert len(await parcel.timeline()) == 5


async def test_an_inactive_carrier_is_suspended(parcel: Parcel) -> None:
    _, ops = await parcel.world.user("ops", domain="platform")
    variables = {"id": await _carrier_gid(parcel), "c": parcel.code}
    update = await parcel.gql(CARRIER_UPDATE, variables, shop=parcel.world.handle, token=ops)
    assert update.ok()["carrierUpdate"]["errors"] == []
    suspended = await parcel.send("PU", 5)
    assert (suspended.status_code, _code(suspended)) == (401, "SIGNATURE_KEY_SUSPENDED")
    # Only the secret's holder learns of the suspension; a forger still hears "invalid".
    forged = await parcel.send("PU", 5, secret="whsec_guess")
    assert (forged.status_code, _code(forged)) == (401, "SIGNATURE_INVALID")
    assert (await parcel.view())["status"] == "LABEL_CREATED"
    assert await parcel.inbox() == 0
