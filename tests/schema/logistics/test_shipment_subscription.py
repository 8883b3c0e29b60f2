"""``shipmentUpdated(orderId)`` over a real websocket (issue 5, acceptance 2).

The app is served by uvicorn on a 127.0.0.1 port; a graphql-transport-ws client connects to it,
and a signed carrier webhook POSTed over HTTP pushes the new tracking event to the subscriber.
A subscription does its permission check before it listens, and the protocol has no message
for "now listening", so a test waits, bounded, until the app's broadcast holds a listener for
the order's topic before the carrier calls.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from starlette.applications import Starlette

from app.config import Settings
from app.goods.models import Warehouse
from app.logistics.live import order_topic
from app.main import create_app
from tests.support.clock import MutableClock
from tests.support.factories import World, gid, make_world
from tests.support.graphql_ws import (
    GRAPHQL_TRANSPORT_WS,
    GRAPHQL_WS,
    WAIT,
    GraphQLWSClient,
    ws_url,
)
from tests.support.served import serve_app
from tests.support.shipping import carrier_event, make_carrier, order_lines, ship
from tests.support.trade import place_order

pytestmark = pytest.mark.anyio

FOLLOW = """
subscription Follow($orderId: ID!) {
  shipmentUpdated(orderId: $orderId) {
    shipmentId trackingNumber shipmentStatus
    event { status occurredAt location }
  }
}
"""


@dataclass(frozen=True)
class Parcel:
    """A paid order of a shopper, shipped in one parcel that the carrier can now report on."""

    world: World
    order_id: int
    shipment_id: int
    carrier: str
    secret: str
    tracking_number: str
    buyer_token: str

    @property
    def order_gid(self) -> str:
        return gid("Order", self.order_id)

    def init_payload(self, token: str | None = None) -> dict[str, Any]:
        return {"authorization": f"Bearer {token or self.buyer_token}", "shop": self.world.handle}


async def shipped_parcel(world: World) -> Parcel:
    buyer, token = await world.user("shopper")
    order_id = await place_order(world, paid=True, user_id=buyer)
    async with world.services.db.reader() as session:
        # place_order stocked the order's variant in the world's only warehouse.
        warehouse = await session.scalar(
            select(Warehouse.id).where(Warehouse.shop_id == world.shop.id)
        )
    assert warehouse is not None
    carrier, secret = await make_carrier(world)
    tracking = f"TRK{uuid.uuid4().hex[:12].upper()}"
    shipment = await ship(
        world, order_id, warehouse, carrier, tracking, await order_lines(world, order_id)
    )
    return Parcel(world, order_id, shipment, carrier, secret, tracking, token)


def listeners(app: Starlette, topic: str) -> int:
    """Local listeners on ``topic`` in this app's broadcast (in process, or Redis's fan-out)."""
    broadcast = app.state.services.broadcast
    local = getattr(broadcast, "_local", broadcast)
    return len(local._queues.get(topic, ()))


async def until_listening(app: Starlette, order_id: int, count: int = 1) -> None:
    """Bounded wait until ``count`` subscriptions on the order listen in ``app``."""
    async with asyncio.timeout(WAIT):
        while listeners(app, order_topic(order_id)) != count:
            await asyncio.sleep(0.01)


async def carrier_calls(
    base_url: str, parcel: Parcel, status: str, occurred_at: datetime, location: str
) -> httpx.Response:
    """The carrier POSTs a signed event over real HTTP to the served app."""
    path, body, headers = carrier_event(
        parcel.carrier,
        parcel.secret,
        tracking_number=parcel.tracking_number,
        status=status,
        occurred_at=occurred_at,
        location=location,
    )
    async with httpx.AsyncClient(base_url=base_url, timeout=WAIT) as client:
        return await client.post(path, content=body, headers=headers)


def at(clock: MutableClock, minutes: int) -> datetime:
    """A moment after the label was created, whole seconds, with its UTC offset."""
    return (clock() + timedelta(minutes=minutes)).replace(microsecond=0)


def assert_pushed(
    data: dict[str, Any], parcel: Parcel, status: str, when: datetime, where: str
) -> None:
    update = data["shipmentUpdated"]
    assert update["shipmentId"] == gid("Shipment", parcel.shipment_id)
    assert update["trackingNumber"] == parcel.tracking_number
    assert update["shipmentStatus"] == status
    event = update["event"]
    assert event["status"] == status
    assert event["location"] == where
    assert datetime.fromisoformat(event["occurredAt"]) == when, event["occurredAt"]


@asynccontextmanager
async def following(
    url: str, parcel: Parcel, op_id: str = "1", token: str | None = None
) -> AsyncIterator[GraphQLWSClient]:
    """A connection authenticated as ``token`` (the buyer's by default) subscribed to the order."""
    async with GraphQLWSClient.connect(url) as client:
        await client.init(parcel.init_payload(token))
        await client.subscribe(op_id, FOLLOW, {"orderId": parcel.order_gid})
        yield client


@pytest.fixture
async def served(app: Starlette) -> AsyncIterator[str]:
    async with serve_app(app) as base_url:
        yield base_url


async def test_the_buyer_receives_the_event_a_carrier_webhook_reports(
    app: Starlette, world: World, served: str, clock: MutableClock
) -> None:
    parcel = await shipped_parcel(world)
    async with following(ws_url(served), parcel) as buyer:
        assert buyer.subprotocol == GRAPHQL_TRANSPORT_WS
        await until_listening(app, parcel.order_id)
        when = at(clock, 5)
        answer = await carrier_calls(served, parcel, "TR", when, "Leipzig hub")
        assert answer.status_code == 200, answer.text
        assert answer.json() == {"received": True, "applied": True}
        assert_pushed(await buyer.next_data("1"), parcel, "IN_TRANSIT", when, "Leipzig hub")

        later = at(clock, 90)
        answer = await carrier_calls(served, parcel, "OD", later, "Berlin depot")
        assert answer.status_code == 200, answer.text
        assert_pushed(await buyer.next_data("1"), parcel, "OUT_FOR_DELIVERY", later, "Berlin depot")


def assert_refused(messages: list[dict[str, Any]]) -> None:
    """A refusal is graphql-transport-ws's ``error`` for the operation, FORBIDDEN, and ends it:
    no ``next`` (not even one carrying the errors) and no ``complete`` after it."""
    assert not [m for m in messages if m["type"] == "next" and m["payload"].get("data")], messages
    assert [m["type"] for m in messages] == ["error"], messages
    assert [e["extensions"]["code"] for e in messages[0]["payload"]] == ["FORBIDDEN"]


async def test_another_user_is_refused_and_receives_nothing(
    app: Starlette, world: World, served: str, clock: MutableClock
) -> None:
    parcel = await shipped_parcel(world)
    _, stranger_token = await world.user("shopper")
    url = ws_url(served)
    async with (
        following(url, parcel, op_id="buyer") as buyer,
        following(url, parcel, op_id="nosy", token=stranger_token) as stranger,
    ):
        await stranger.receive("nosy")  # the refusal (taken again below), so it is decided
        await until_listening(app, parcel.order_id)  # the buyer's, and only the buyer's
        when = at(clock, 5)
        assert (await carrier_calls(served, parcel, "TR", when, "Hub")).status_code == 200
        assert_pushed(await buyer.next_data("buyer"), parcel, "IN_TRANSIT", when, "Hub")
        await stranger.ping()  # the server has flushed to the stranger whatever it was going to
        assert_refused(stranger.history("nosy"))


async def test_an_anonymous_connection_is_refused(
    app: Starlette, world: World, served: str
) -> None:
    parcel = await shipped_parcel(world)
    async with GraphQLWSClient.connect(ws_url(served)) as anonymous:
        await anonymous.init({"shop": world.handle})
        await anonymous.subscribe("1", FOLLOW, {"orderId": parcel.order_gid})
        await anonymous.receive("1")
        await anonymous.ping()
        assert_refused(anonymous.history("1"))
        assert listeners(app, order_topic(parcel.order_id)) == 0


@pytest.mark.parametrize("credential", ["Bearer not-a-token", "Basic dXNlcjpwYXNz", "Bearer "])
async def test_an_invalid_credential_in_connection_init_closes_with_4403(
    world: World, served: str, credential: str
) -> None:
    async with GraphQLWSClient.connect(ws_url(served)) as client:
        await client.send(
            {
                "type": "connection_init",
                "payload": {"authorization": credential, "shop": world.handle},
            }
        )
        assert await client.closed() == (4403, "Forbidden")


async def test_the_legacy_graphql_ws_protocol_is_refused(served: str) -> None:
    async with GraphQLWSClient.connect(ws_url(served), subprotocols=(GRAPHQL_WS,)) as legacy:
        assert legacy.subprotocol is None  # the handshake did not agree to graphql-ws
        assert await legacy.closed() == (4406, "Subprotocol not acceptable")

    # Offered both, the server picks graphql-transport-ws.
    async with GraphQLWSClient.connect(
        ws_url(served), subprotocols=(GRAPHQL_WS, GRAPHQL_TRANSPORT_WS)
    ) as both:
        assert both.subprotocol == GRAPHQL_TRANSPORT_WS
        await both.init({})
        await both.ping()


async def test_two_subscribers_both_receive_and_one_that_completes_stops(
    app: Starlette, world: World, served: str, clock: MutableClock
) -> None:
    parcel = await shipped_parcel(world)
    url = ws_url(served)
    async with (
        following(url, parcel, op_id="a") as first,
        following(url, parcel, op_id="b") as second,
    ):
        await until_listening(app, parcel.order_id, count=2)
        when = at(clock, 5)
        assert (await carrier_calls(served, parcel, "TR", when, "Hub")).status_code == 200
        assert_pushed(await first.next_data("a"), parcel, "IN_TRANSIT", when, "Hub")
        assert_pushed(await second.next_data("b"), parcel, "IN_TRANSIT", when, "Hub")

        await first.complete("a")
        await until_listening(app, parcel.order_id, count=1)
        later = at(clock, 60)
        assert (await carrier_calls(served, parcel, "OD", later, "Depot")).status_code == 200
        assert_pushed(await second.next_data("b"), parcel, "OUT_FOR_DELIVERY", later, "Depot")
        await first.ping()
        assert first.received("a") == []


@asynccontextmanager
async def running(settings: Settings, clock: MutableClock) -> AsyncIterator[tuple[Starlette, str]]:
    """One more app instance on the suite's database and Redis prefix, started and served."""
    instance = create_app(settings, clock=clock)
    async with instance.router.lifespan_context(instance), serve_app(instance) as base_url:
        yield instance, base_url


@pytest.mark.redis
async def test_with_redis_an_event_received_by_one_instance_reaches_a_subscriber_on_another(
    settings: Settings, migrated: str, clock: MutableClock
) -> None:
    assert settings.redis_url, "the redis marker runs only with AGORA_REDIS_URL"
    async with AsyncExitStack() as stack:
        app_a, url_a = await stack.enter_async_context(running(settings, clock))
        app_b, url_b = await stack.enter_async_context(running(settings, clock))
        parcel = await shipped_parcel(await make_world(app_a))
        async with asyncio.timeout(WAIT):
            await app_b.state.services.broadcast.subscribed.wait()
        async with following(ws_url(url_b), parcel) as buyer:
            await until_listening(app_b, parcel.order_id)
            assert listeners(app_a, order_topic(parcel.order_id)) == 0  # A can only relay
            when = at(clock, 5)
            answer = await carrier_calls(url_a, parcel, "TR", when, "Amsterdam")
            assert answer.status_code == 200, answer.text
            assert_pushed(await buyer.next_data("1"), parcel, "IN_TRANSIT", when, "Amsterdam")
