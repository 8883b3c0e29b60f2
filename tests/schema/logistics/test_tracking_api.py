"""Reading parcels through HTTP: the shop's ``shipments`` list, the public ``trackShipment`` that
needs both numbers, and ``order.shipments`` for the order's owner and its shop only."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.trade.order_models import OrderAllocation
from tests.support.clock import MutableClock
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.shipping import carrier_event, make_carrier, order_lines, ship
from tests.support.trade import place_order

pytestmark = pytest.mark.anyio

LIST = """query($first: Int, $after: String, $filter: ShipmentFilter) {
  shipments(first: $first, after: $after, filter: $filter) {
    nodes { trackingNumber status createdAt carrier { code } }
    pageInfo { hasNextPage endCursor } } }"""
TRACK = """query($t: String!, $o: String!) { trackShipment(trackingNumber: $t, orderNumber: $o) {
  trackingNumber status trackingUrl carrier { name } events { status location }
  destination { city countryCode street1 street2 } } }"""
ORDER = """query($id: ID!) { order(id: $id) { name shipments { trackingNumber status
  events { status } } } }"""


@dataclass
class Parcels:
    """A shop with shipped orders: {order id: [tracking numbers]}, oldest parcel first."""

    world: World
    gql: GraphQLClient
    staff: int
    carriers: list[tuple[str, str]]
    orders: dict[int, list[str]] = field(default_factory=dict)
    owner: int | None = None

    def token(self) -> str:
        return str(self.world.services.tokens.issue(f"user:{self.staff}"))

    async def ship_order(self, carrier: tuple[str, str], parcels: int, **order: Any) -> int:
        placed = await place_order(self.world, paid=True, quantity=parcels, **order)
        [(line, _)] = await order_lines(self.world, placed)
        async with self.world.services.db.reader() as session:
            warehouse = await session.scalar(
                select(OrderAllocation.warehouse_id).where(OrderAllocation.line_id == line)
            )
        assert warehouse is not None
        numbers = [f"TN{uuid.uuid4().hex[:12].upper()}" for _ in range(parcels)]
        for number in numbers:
            await ship(self.world, placed, warehouse, carrier[0], number, [(line, 1)])
        self.orders[placed] = numbers
        return placed

    async def listing(self, **variables: Any) -> dict[str, Any]:
        result = await self.gql(LIST, variables, shop=self.world.handle, token=self.token())
        return result.ok()["shipments"]  # type: ignore[no-any-return]

    async def tracked(self, **variables: Any) -> list[str]:
        return [n["trackingNumber"] for n in (await self.listing(**variables))["nodes"]]


@pytest.fixture
async def parcels(world: World, gql: GraphQLClient) -> Parcels:
    staff, _ = await world.user("business")
    shop = Parcels(world, gql, staff, [await make_carrier(world), await make_carrier(world)])
    shop.owner, _ = await world.user("shopper")
    await shop.ship_order(shop.carriers[0], 3, user_id=shop.owner)
    await shop.ship_order(shop.carriers[1], 2)
    return shop


async def test_staff_page_through_the_shops_parcels_newest_first(parcels: Parcels) -> None:
    everything = [n for numbers in parcels.orders.values() for n in numbers][::-1]
    pages: list[list[str]] = []
    after = None
    while True:
        page = await parcels.listing(first=2, after=after)
        pages.append([n["trackingNumber"] for n in page["nodes"]])
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert [len(p) for p in pages] == [2, 2, 1]
    assert [n for p in pages for n in p] == everything


async def test_filters_narrow_the_list(
    parcels: Parcels, http: httpx.AsyncClient, clock: MutableClock, other_world: World
) -> None:
    first_order, second_order = parcels.orders
    a1, a2, a3 = parcels.orders[first_order]
    b1, b2 = parcels.orders[second_order]
    code, secret = parcels.carriers[1]
    path, body, headers = carrier_event(
        code,
        secret,
        tracking_number=b2,
        status="TR",
        occurred_at=clock(),
        timestamp=int(clock().timestamp()),
    )
    assert (await http.post(path, content=body, headers=headers)).status_code == 200
    # Another shop's parcels, even with the same carrier, never show here.
    await Parcels(other_world, parcels.gql, 0, []).ship_order(parcels.carriers[0], 1)

    assert await parcels.tracked(filter={"status": "IN_TRANSIT"}) == [b2]
    assert await parcels.tracked(filter={"status": "LABEL_CREATED"}) == [b1, a3, a2, a1]
    assert await parcels.tracked(filter={"carrierCode": parcels.carriers[0][0]}) == [a3, a2, a1]
    assert await parcels.tracked(filter={"carrierCode": "nobody"}) == []
    assert await parcels.tracked(filter={"trackingNumber": a2}) == [a2]
    assert await parcels.tracked(filter={"orderId": gid("Order", second_order)}) == [b2, b1]
    assert await parcels.tracked(filter={"orderId": gid("Product", second_order)}) == []
    both = {"orderId": gid("Order", first_order), "carrierCode": code}
    assert await parcels.tracked(filter=both) == []

    nodes = (await parcels.listing())["nodes"]
    created = {n["trackingNumber"]: n["createdAt"] for n in nodes}
    window = {"createdFrom": created[a2], "createdTo": created[b1]}
    assert await parcels.tracked(filter=window) == [a3, a2]
    assert await parcels.tracked(filter={"createdFrom": created[b1]}) == [b2, b1]
    assert await parcels.tracked(filter={"createdTo": created[a1]}) == []


async def test_bad_list_requests_are_refused(parcels: Parcels) -> None:
    token = parcels.token()
    for variables, code in (
        ({"first": 101}, "PAGE_SIZE_EXCEEDED"),
        ({"first": 2, "after": "forged-cursor"}, "INVALID_CURSOR"),
        ({"filter": {"createdFrom": "2030-01-01T00:00:00"}}, "BAD_USER_INPUT"),
    ):
        result = await parcels.gql(LIST, variables, shop=parcels.world.handle, token=token)
        assert result.codes == [code], (variables, result.body)
        assert result.data is None or result.data.get("shipments") is None


async def test_shoppers_and_anonymous_callers_may_not_list_parcels(parcels: Parcels) -> None:
    _, shopper = await parcels.world.user("shopper")
    for token in (shopper, None):
        result = await parcels.gql(LIST, {}, shop=parcels.world.handle, token=token)
        assert result.codes == ["FORBIDDEN"], result.body
        assert result.data is None or result.data.get("shipments") is None


async def _order_name(parcels: Parcels, order: int) -> str:
    variables = {"id": gid("Order", order)}
    found = await parcels.gql(ORDER, variables, shop=parcels.world.handle, token=parcels.token())
    return str(found.ok()["order"]["name"])


async def test_anyone_with_both_numbers_can_track_a_parcel_with_its_address_masked(
    parcels: Parcels,
) -> None:
    order, tracking = next(iter(parcels.orders.items()))
    name = await _order_name(parcels, order)
    for number in (name, name.lstrip("#")):
        variables = {"t": tracking[0], "o": number}
        found = (await parcels.gql(TRACK, variables, shop=parcels.world.handle)).ok()
        tracked = found["trackShipment"]
        assert tracked["trackingNumber"] == tracking[0]
        assert tracked["status"] == "LABEL_CREATED"
        assert tracked["trackingUrl"] == f"https://track.example/{tracking[0]}"
        assert tracked["carrier"]["name"] == f"Carrier {parcels.carriers[0][0]}"
        assert [e["status"] for e in tracked["events"]] == ["LABEL_CREATED"]
        assert tracked["destination"] == {
            "city": "Berlin",
            "countryCode": "DE",
            "street1": "***",
            "street2": "",
        }


async def test_a_wrong_pair_reveals_nothing(parcels: Parcels, other_world: World) -> None:
    first, second = parcels.orders
    right = await _order_name(parcels, first)
    other_name = await _order_name(parcels, second)
    foreign_shop = Parcels(other_world, parcels.gql, (await other_world.user("business"))[0], [])
    foreign = await foreign_shop.ship_order(parcels.carriers[0], 1)
    foreign_name = await _order_name(foreign_shop, foreign)
    foreign_tracking = foreign_shop.orders[foreign][0]
    tracking = parcels.orders[first][0]
    for number, order_number in (
        (tracking, other_name),  # a real order of this shop, but not this parcel's
        (tracking, "#999999999"),
        (tracking, "not-a-number"),
        ("NO-SUCH-PARCEL", right),
        (parcels.orders[second][0], right),
        ("", right),
        (foreign_tracking, foreign_name),  # another shop's pair, asked of this shop
    ):
        variables = {"t": number, "o": order_number}
        found = await parcels.gql(TRACK, variables, shop=parcels.world.handle)
        assert found.ok() == {"trackShipment": None}, (number, order_number)
    # The foreign pair works in its own shop: the null above was about the shop.
    variables = {"t": foreign_tracking, "o": foreign_name}
    own = await parcels.gql(TRACK, variables, shop=other_world.handle)
    assert own.ok()["trackShipment"]["trackingNumber"] == foreign_tracking


async def test_the_owner_and_the_staff_see_the_orders_parcels_and_nobody_else(
    parcels: Parcels, other_world: World
) -> None:
    order = next(iter(parcels.orders))
    assert parcels.owner is not None
    owner = parcels.world.services.tokens.issue(f"user:{parcels.owner}")
    _, stranger = await parcels.world.user("shopper")
    _, foreign_staff = await other_world.user("business")
    variables = {"id": gid("Order", order)}
    expected = [
        {"trackingNumber": n, "status": "LABEL_CREATED", "events": [{"status": "LABEL_CREATED"}]}
        for n in parcels.orders[order]
    ]
    for token in (owner, parcels.token()):
        seen = (await parcels.gql(ORDER, variables, shop=parcels.world.handle, token=token)).ok()
        assert seen["order"]["shipments"] == expected
    for token in (stranger, None):
        seen = (await parcels.gql(ORDER, variables, shop=parcels.world.handle, token=token)).ok()
        assert seen == {"order": None}
    # Staff of another shop, asking in theirs, find no such order.
    found = await parcels.gql(ORDER, variables, shop=other_world.handle, token=foreign_staff)
    assert found.ok() == {"order": None}
