"""Ops' shipping zones and rate tables through HTTP: validated, tenant-scoped, audited."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import func, select

from app.goods.variants import PriceInput
from app.logistics.models import RateBasis, ShippingRate, ShippingZone
from app.logistics.zones import RateDraft, ZoneDraft, create_rate, create_zone
from app.security.audit import AuditEvent, Outcome
from app.security.rbac import PLATFORM
from tests.support.factories import World, gid, unique
from tests.support.graphql import GraphQLClient, GraphQLResult
from tests.support.sql import StatementCounter

pytestmark = pytest.mark.anyio

RATE = """id code name basis minValue maxValue price { amount currencyCode }
  freeOver { amount currencyCode } active minDeliveryDays maxDeliveryDays"""
ZONE = f"id name areas rates {{ {RATE} }}"
ERRORS = "errors { field code }"
ZONES = f"{{ shippingZones {{ {ZONE} }} }}"
ZONE_CREATE = f"""mutation($input: ShippingZoneInput!) {{
  shippingZoneCreate(input: $input) {{ shippingZone {{ {ZONE} }} {ERRORS} }} }}"""
ZONE_UPDATE = f"""mutation($id: ID!, $input: ShippingZoneUpdateInput!) {{
  shippingZoneUpdate(id: $id, input: $input) {{ shippingZone {{ {ZONE} }} {ERRORS} }} }}"""
ZONE_DELETE = f"""mutation($id: ID!) {{
  shippingZoneDelete(id: $id) {{ deletedId shippingZone {{ name }} {ERRORS} }} }}"""
RATE_CREATE = f"""mutation($zoneId: ID!, $input: ShippingRateCreateInput!) {{
  shippingRateCreate(zoneId: $zoneId, input: $input) {{ shippingRate {{ {RATE} }} {ERRORS} }} }}"""
RATE_UPDATE = f"""mutation($id: ID!, $input: ShippingRateUpdateInput!) {{
  shippingRateUpdate(id: $id, input: $input) {{ shippingRate {{ {RATE} }} {ERRORS} }} }}"""
RATE_DELETE = f"""mutation($id: ID!) {{
  shippingRateDelete(id: $id) {{ deletedId shippingRate {{ code }} {ERRORS} }} }}"""


def _eur(amount: str, currency: str = "EUR") -> dict[str, str]:
    return {"amount": amount, "currencyCode": currency}


def _rate_input(code: str = "standard", **fields: Any) -> dict[str, Any]:
    return {"code": code, "name": "Standard", "basis": "WEIGHT", "price": _eur("4.90"), **fields}


def _problems(payload: dict[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    return sorted((tuple(e["field"] or ()), e["code"]) for e in payload["errors"])


class Ops:
    """Calls as an ops user, each with its own request id so its audit rows can be found."""

    def __init__(self, world: World, gql: GraphQLClient, token: str | None) -> None:
        self.world, self.gql, self.token = world, gql, token
        self.request_id = ""

    async def call(self, query: str, shop: World | None = None, **variables: Any) -> GraphQLResult:
        self.request_id = unique("req")
        return await self.gql(
            query,
            variables,
            shop=(shop or self.world).handle,
            token=self.token,
            headers={"X-Request-ID": self.request_id},
        )

    async def __call__(self, query: str, shop: World | None = None, **variables: Any) -> Any:
        data = (await self.call(query, shop, **variables)).ok()
        (payload,) = data.values()
        return payload

    async def audited(self) -> list[AuditEvent]:
        async with self.world.services.db.reader() as session:
            return list(
                await session.scalars(
                    select(AuditEvent).where(AuditEvent.request_id == self.request_id)
                )
            )


@pytest.fixture
async def ops(world: World, gql: GraphQLClient) -> Ops:
    _, token = await world.user("ops", domain="platform")
    return Ops(world, gql, token)


async def _count(world: World, model: type[ShippingZone] | type[ShippingRate]) -> int:
    query = (
        select(func.count()).select_from(ShippingZone).where(ShippingZone.shop_id == world.shop.id)
    )
    if model is ShippingRate:
        query = query.join(ShippingRate, ShippingRate.zone_id == ShippingZone.id)
    async with world.services.db.reader() as session:
        return int(await session.scalar(query) or 0)


async def _table(world: World, areas: tuple[str, ...] = ("DE",), rates: int = 1) -> tuple[int, int]:
    """A zone with ``rates`` rates made through the service: (zone id, first rate id)."""
    async with world.services.db.writer() as session, session.begin():
        zone = await create_zone(session, world.shop.id, ZoneDraft(unique("Zone"), areas))
        made = [
            await create_rate(
                session,
                world.shop,
                zone.id,
                RateDraft(f"r{i}", f"Rate {i}", RateBasis.WEIGHT, PriceInput("4.90", "EUR")),
            )
            for i in range(rates)
        ]
    return zone.id, made[0].id if made else 0


async def test_ops_build_a_rate_table_and_each_change_is_audited_once(ops: Ops) -> None:
    zone = (await ops(ZONE_CREATE, input={"name": " Europe ", "areas": ["DE", "AT", "DE"]}))[
        "shippingZone"
    ]
    assert (zone["name"], zone["areas"], zone["rates"]) == ("Europe", ["DE", "AT"], [])
    (event,) = await ops.audited()
    assert (event.action, event.outcome, event.domain) == (
        "shippingZoneCreate",
        "allowed",
        PLATFORM,
    )
    assert (event.target_type, event.target_id, event.roles) == (
        "ShippingZone",
        zone["id"],
        ["ops"],
    )
    assert (event.before, event.after["areas"], event.after["rates"]) == (None, ["DE", "AT"], [])

    rate_input = _rate_input(
        maxValue=5000, freeOver=_eur("50.00"), minDeliveryDays=1, maxDeliveryDays=3
    )
    created = await ops(RATE_CREATE, zoneId=zone["id"], input=rate_input)
    rate = created["shippingRate"]
    assert created["errors"] == []
    assert rate["price"] == {"amount": "4.90", "currencyCode": "EUR"}
    assert (rate["freeOver"]["amount"], rate["minValue"], rate["maxValue"]) == ("50.00", 0, 5000)
    assert (rate["basis"], rate["active"], rate["maxDeliveryDays"]) == ("WEIGHT", True, 3)
    (event,) = await ops.audited()
    assert (event.action, event.target_id, event.after["amount"]) == (
        "shippingRateCreate",
        rate["id"],
        490,
    )

    changes = {"price": _eur("5.90"), "freeOver": None, "name": "Parcel", "active": False}
    updated = (await ops(RATE_UPDATE, id=rate["id"], input=changes))["shippingRate"]
    assert (updated["price"]["amount"], updated["freeOver"], updated["name"]) == (
        "5.90",
        None,
        "Parcel",
    )
    assert (updated["maxValue"], updated["code"], updated["active"]) == (5000, "standard", False)
    (event,) = await ops.audited()
    assert (event.before["amount"], event.after["amount"]) == (490, 590)
    assert (event.before["free_over"], event.after["free_over"]) == (5000, None)

    renamed = await ops(ZONE_UPDATE, id=zone["id"], input={"areas": ["DE", "US-CA"]})
    assert renamed["shippingZone"]["name"] == "Europe"
    assert renamed["shippingZone"]["areas"] == ["DE", "US-CA"]
    assert [r["code"] for r in renamed["shippingZone"]["rates"]] == ["standard"]
    (event,) = await ops.audited()
    assert (event.before["areas"], event.after["areas"]) == (["DE", "AT"], ["DE", "US-CA"])

    listed = (await ops.call(ZONES)).ok()["shippingZones"]
    assert listed == [renamed["shippingZone"]]
    assert await ops.audited() == []  # reading is not a change

    gone = await ops(RATE_DELETE, id=rate["id"])
    assert (gone["deletedId"], gone["shippingRate"], gone["errors"]) == (
        rate["id"],
        {"code": "standard"},
        [],
    )
    (event,) = await ops.audited()
    assert (event.action, event.before["code"], event.after) == (
        "shippingRateDelete",
        "standard",
        None,
    )

    await ops(RATE_CREATE, zoneId=zone["id"], input=_rate_input("express"))
    deleted = await ops(ZONE_DELETE, id=zone["id"])
    assert (deleted["deletedId"], deleted["shippingZone"]) == (zone["id"], {"name": "Europe"})
    (event,) = await ops.audited()
    assert ([r["code"] for r in event.before["rates"]], event.after) == (["express"], None)
    assert await _count(ops.world, ShippingZone) == 0
    assert await _count(ops.world, ShippingRate) == 0
    assert (await ops.call(ZONES)).ok()["shippingZones"] == []


async def test_bad_zone_input_reports_every_problem_and_writes_nothing(ops: Ops) -> None:
    areas = ["DE", "de", "USA", "US-CALI", "US-CA", "FR-75"]
    refused = await ops(ZONE_CREATE, input={"name": "   ", "areas": areas})
    assert refused["shippingZone"] is None
    assert _problems(refused) == [
        (("input", "areas", "1"), "INVALID"),
        (("input", "areas", "2"), "INVALID"),
        (("input", "areas", "3"), "INVALID"),
        (("input", "name"), "REQUIRED"),
    ]
    empty = await ops(ZONE_CREATE, input={"name": "x" * 121, "areas": []})
    assert _problems(empty) == [(("input", "areas"), "REQUIRED"), (("input", "name"), "INVALID")]
    too_many = await ops(ZONE_CREATE, input={"name": "World", "areas": ["DE"] * 301})
    assert _problems(too_many) == [(("input", "areas"), "INVALID")]
    assert await ops.audited() == []
    assert await _count(ops.world, ShippingZone) == 0


async def test_names_are_unique_per_shop_and_codes_per_zone(ops: Ops, other_world: World) -> None:
    await _table(other_world)
    first = (await ops(ZONE_CREATE, input={"name": "Europe", "areas": ["DE"]}))["shippingZone"]
    second = (await ops(ZONE_CREATE, input={"name": "Americas", "areas": ["US"]}))["shippingZone"]
    again = await ops(ZONE_CREATE, input={"name": "Europe", "areas": ["FR"]})
    assert _problems(again) == [(("input", "name"), "DUPLICATE_NAME")]
    renamed = await ops(ZONE_UPDATE, id=second["id"], input={"name": "Europe"})
    assert _problems(renamed) == [(("input", "name"), "DUPLICATE_NAME")]
    same = await ops(ZONE_UPDATE, id=first["id"], input={"name": "Europe", "areas": ["AT"]})
    assert same["errors"] == []

    await ops(RATE_CREATE, zoneId=first["id"], input=_rate_input("standard"))
    twin = await ops(RATE_CREATE, zoneId=first["id"], input=_rate_input("standard"))
    assert _problems(twin) == [(("input", "code"), "DUPLICATE_CODE")]
    elsewhere = await ops(RATE_CREATE, zoneId=second["id"], input=_rate_input("standard"))
    assert elsewhere["errors"] == []
    express = await ops(RATE_CREATE, zoneId=first["id"], input=_rate_input("express"))
    recoded = await ops(RATE_UPDATE, id=express["shippingRate"]["id"], input={"code": "standard"})
    assert _problems(recoded) == [(("input", "code"), "DUPLICATE_CODE")]

    listed = (await ops.call(ZONES)).ok()["shippingZones"]
    assert [(z["name"], [r["code"] for r in z["rates"]]) for z in listed] == [
        ("Europe", ["standard", "express"]),
        ("Americas", ["standard"]),
    ]


async def test_bad_rate_input_reports_every_problem_and_writes_nothing(ops: Ops) -> None:
    zone, _ = await _table(ops.world, rates=0)
    bad = _rate_input(
        "Bad Code",
        name="",
        price=_eur("4.90", "USD"),
        freeOver=_eur("-1.00"),
        minValue=500,
        maxValue=500,
        minDeliveryDays=5,
        maxDeliveryDays=2,
    )
    refused = await ops(RATE_CREATE, zoneId=gid("ShippingZone", zone), input=bad)
    assert refused["shippingRate"] is None
    assert _problems(refused) == [
        (("input", "code"), "INVALID"),
        (("input", "freeOver", "amount"), "INVALID"),
        (("input", "maxDeliveryDays"), "INVALID"),
        (("input", "maxValue"), "INVALID"),
        (("input", "name"), "REQUIRED"),
        (("input", "price", "currencyCode"), "CURRENCY_MISMATCH"),
    ]
    cases = {
        "price": ({"price": _eur("4.999")}, ("input", "price", "amount")),
        "negative": ({"price": _eur("-0.01")}, ("input", "price", "amount")),
        "days": ({"maxDeliveryDays": 366}, ("input", "maxDeliveryDays")),
        "bound": ({"minValue": -1}, ("input", "minValue")),
    }
    for name, (fields, path) in cases.items():
        payload = await ops(
            RATE_CREATE, zoneId=gid("ShippingZone", zone), input=_rate_input(**fields)
        )
        assert _problems(payload) == [(path, "INVALID")], name
    assert await ops.audited() == []
    assert await _count(ops.world, ShippingRate) == 0


async def test_a_refused_rate_update_changes_nothing(ops: Ops) -> None:
    _, rate = await _table(ops.world)
    rate_id = gid("ShippingRate", rate)
    await ops(RATE_UPDATE, id=rate_id, input={"minValue": 1000, "maxValue": 5000})

    above = await ops(RATE_UPDATE, id=rate_id, input={"minValue": 6000, "name": "Renamed"})
    assert _problems(above) == [(("input", "minValue"), "INVALID")]
    dollars = await ops(RATE_UPDATE, id=rate_id, input={"price": _eur("1.00", "USD")})
    assert _problems(dollars) == [(("input", "price", "currencyCode"), "CURRENCY_MISMATCH")]
    assert await ops.audited() == []
    (zone,) = (await ops.call(ZONES)).ok()["shippingZones"]
    (kept,) = zone["rates"]
    assert (kept["name"], kept["minValue"], kept["maxValue"]) == ("Rate 0", 1000, 5000)
    assert kept["price"]["amount"] == "4.90"

    unbounded = await ops(RATE_UPDATE, id=rate_id, input={"maxValue": None, "minValue": 6000})
    assert unbounded["shippingRate"]["maxValue"] is None
    assert unbounded["shippingRate"]["minValue"] == 6000


async def test_another_shops_zones_and_rates_are_not_found(ops: Ops, other_world: World) -> None:
    zone, rate = await _table(other_world)
    theirs, their_rate = gid("ShippingZone", zone), gid("ShippingRate", rate)
    calls = [
        (ZONE_UPDATE, {"id": theirs, "input": {"name": "Mine now"}}, ["id"]),
        (ZONE_DELETE, {"id": theirs}, ["id"]),
        (RATE_CREATE, {"zoneId": theirs, "input": _rate_input("sneaky")}, ["zoneId"]),
        (RATE_UPDATE, {"id": their_rate, "input": {"price": _eur("0.00")}}, ["id"]),
        (RATE_DELETE, {"id": their_rate}, ["id"]),
        (ZONE_DELETE, {"id": gid("Product", zone)}, ["id"]),
        (RATE_DELETE, {"id": "not-an-id"}, ["id"]),
    ]
    for query, variables, field in calls:
        payload = await ops(query, **variables)
        assert payload["errors"] == [{"field": field, "code": "NOT_FOUND"}], query
        assert await ops.audited() == []
    assert (await ops.call(ZONES)).ok()["shippingZones"] == []
    (listed,) = (await ops.call(ZONES, shop=other_world)).ok()["shippingZones"]
    assert listed["id"] == theirs
    assert [(r["id"], r["price"]["amount"]) for r in listed["rates"]] == [(their_rate, "4.90")]


@pytest.mark.parametrize("role", [None, "business"])
async def test_business_users_and_anonymous_callers_are_forbidden(
    world: World, gql: GraphQLClient, role: str | None
) -> None:
    zone, rate = await _table(world)
    token = (await world.user(role))[1] if role else None
    caller = Ops(world, gql, token)
    calls = [
        (ZONES, {}),
        (ZONE_CREATE, {"input": {"name": "Mine", "areas": ["DE"]}}),
        (ZONE_UPDATE, {"id": gid("ShippingZone", zone), "input": {"name": "Mine"}}),
        (ZONE_DELETE, {"id": gid("ShippingZone", zone)}),
        (RATE_CREATE, {"zoneId": gid("ShippingZone", zone), "input": _rate_input("free")}),
        (RATE_UPDATE, {"id": gid("ShippingRate", rate), "input": {"price": _eur("0.00")}}),
        (RATE_DELETE, {"id": gid("ShippingRate", rate)}),
    ]
    for query, variables in calls:
        result = await caller.call(query, **variables)
        assert result.codes == ["FORBIDDEN"], query
        assert result.data is None or set(result.data.values()) == {None}
        (event,) = await caller.audited()
        assert (event.outcome, event.domain) == (Outcome.DENIED, PLATFORM)
    assert (await _count(world, ShippingZone), await _count(world, ShippingRate)) == (1, 1)
    async with world.services.db.reader() as session:
        kept = await session.get(ShippingRate, rate)
    assert kept is not None and kept.amount == 490


async def test_the_zone_list_reads_in_the_same_statements_for_1_or_18_rates(
    ops: Ops, other_world: World, statements: StatementCounter
) -> None:
    await _table(ops.world)
    for _ in range(6):
        await _table(other_world, rates=3)
    await ops.call("{ shop { name } }")
    await ops.call("{ shop { name } }", shop=other_world)  # the shop lookups are cached now

    counts = []
    for shop, expected in ((ops.world, 1), (other_world, 18)):
        statements.reset()
        listed = (await ops.call(ZONES, shop=shop)).ok()["shippingZones"]
        counts.append(statements.count)
        assert sum(len(z["rates"]) for z in listed) == expected
    assert counts[0] == counts[1], statements.statements
