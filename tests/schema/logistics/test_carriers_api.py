"""Ops' carriers through HTTP: the webhook secret shown once and never again, validated input,
unique codes, audit records without secret material, and carrier methods at the cart."""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.logistics.models import ShippingRate, ShippingZone
from app.security.audit import AuditEvent
from app.security.rbac import PLATFORM
from tests.support.clock import MutableClock
from tests.support.factories import World, gid, unique
from tests.support.graphql import GraphQLClient, GraphQLResult
from tests.support.shipping import carrier_event
from tests.support.trade import cart_gid, ready_cart, ship_to, stocked_variant

pytestmark = pytest.mark.anyio

DETAILS = "id code name trackingUrlTemplate active rotating statusMap { carrierCode status }"
PAYLOAD = f"carrier {{ {DETAILS} }} webhookSecret errors {{ field code }}"
CREATE = f"mutation($i: CarrierInput!) {{ carrierCreate(input: $i) {{ {PAYLOAD} }} }}"
UPDATE = (
    f"mutation($id: ID!, $i: CarrierInput!) {{ carrierUpdate(id: $id, input: $i) {{ {PAYLOAD} }} }}"
)
ROTATE = f"mutation($id: ID!) {{ carrierSecretRotate(id: $id) {{ {PAYLOAD} }} }}"
LIST = f"{{ carriers {{ {DETAILS} }} }}"
RATE_CARRIER = """mutation($id: ID!, $c: String) { shippingRateCarrierSet(id: $id, carrierCode: $c) {
  shippingRate { code carrierCode } errors { field code } } }"""
CART = """query($id: ID!) { cart(id: $id) { availableShippingMethods {
  code name minDeliveryDays maxDeliveryDays carrier { code name } } } }"""


def _input(code: str | None = None, **fields: Any) -> dict[str, Any]:
    return {
        "code": code or f"c{uuid.uuid4().hex[:10]}",
        "name": "Parcel Express",
        "trackingUrlTemplate": "https://parcels.example/t/{tracking_number}",
        "statusMap": [
            {"carrierCode": "DLV", "status": "DELIVERED"},
            {"carrierCode": "SCAN", "status": "IN_TRANSIT"},
        ],
        **fields,
    }


class Ops:
    """An ops user's calls, each under its own request id so its audit rows can be found."""

    def __init__(self, world: World, gql: GraphQLClient, user: int) -> None:
        self.world, self.gql, self.user = world, gql, user
        self.request_id = ""

    async def call(self, query: str, **variables: Any) -> GraphQLResult:
        self.request_id = unique("req")
        token = self.world.services.tokens.issue(f"user:{self.user}")
        headers = {"X-Request-ID": self.request_id}
        return await self.gql(
            query, variables, shop=self.world.handle, token=token, headers=headers
        )

    async def __call__(self, query: str, **variables: Any) -> Any:
        (payload,) = (await self.call(query, **variables)).ok().values()
        return payload

    async def listed(self, code: str) -> list[dict[str, Any]]:
        return [c for c in (await self(LIST)) if c["code"] == code]

    async def audited(self) -> list[AuditEvent]:
        async with self.world.services.db.reader() as session:
            query = select(AuditEvent).where(AuditEvent.request_id == self.request_id)
            return list(await session.scalars(query))


@pytest.fixture
async def ops(world: World, gql: GraphQLClient) -> Ops:
    user, _ = await world.user("ops", domain="platform")
    return Ops(world, gql, user)


def _problems(payload: dict[str, Any]) -> list[tuple[tuple[str, ...], str]]:
    return sorted((tuple(e["field"] or ()), e["code"]) for e in payload["errors"])


def _holds_no_secret(event: AuditEvent, *secrets: str) -> None:
    text = json.dumps([event.before, event.after])
    assert "sealed" not in text
    assert not any(secret in text for secret in secrets)


async def test_a_new_carrier_shows_its_secret_once_and_the_secret_signs_webhooks(
    ops: Ops, http: httpx.AsyncClient, clock: MutableClock
) -> None:
    fields = _input()
    created = await ops(CREATE, i=fields)
    secret, carrier = created["webhookSecret"], created["carrier"]
    assert created["errors"] == []
    assert secret.startswith("whsec_") and len(secret) > 30
    assert (carrier["code"], carrier["name"], carrier["active"], carrier["rotating"]) == (
        fields["code"],
        "Parcel Express",
        True,
        False,
    )
    assert carrier["statusMap"] == sorted(fields["statusMap"], key=lambda m: m["carrierCode"])
    (event,) = await ops.audited()
    assert (event.action, event.outcome, event.domain) == ("carrierCreate", "allowed", PLATFORM)
    assert (event.target_type, event.after["code"]) == ("Carrier", fields["code"])
    _holds_no_secret(event, secret)

    listing = await ops.call(LIST)
    assert secret not in json.dumps(listing.body)
    assert await ops.listed(fields["code"]) == [carrier]
    # The secret works: the carrier's first delivery (for a parcel not shipped yet) is taken.
    path, body, headers = carrier_event(
        fields["code"],
        secret,
        tracking_number="NOT-YET-SHIPPED",
        status="SCAN",
        occurred_at=clock(),
        timestamp=int(clock().timestamp()),
    )
    assert (await http.post(path, content=body, headers=headers)).status_code == 202


async def test_updates_keep_the_secret_and_rotations_show_the_new_one_once(ops: Ops) -> None:
    created = await ops(CREATE, i=_input())
    first, carrier_id = created["webhookSecret"], created["carrier"]["id"]
    code = created["carrier"]["code"]
    changes = _input(code, name="Parcel Express EU", statusMap=[], active=False)
    updated = await ops(UPDATE, id=carrier_id, i=changes)
    assert updated["errors"] == []
    assert updated["webhookSecret"] is None
    assert (updated["carrier"]["name"], updated["carrier"]["active"]) == (
        "Parcel Express EU",
        False,
    )
    assert updated["carrier"]["statusMap"] == []
    (event,) = await ops.audited()
    assert (event.action, event.before["name"], event.after["name"]) == (
        "carrierUpdate",
        "Parcel Express",
        "Parcel Express EU",
    )
    _holds_no_secret(event, first)

    rotated = await ops(ROTATE, id=carrier_id)
    second = rotated["webhookSecret"]
    assert second.startswith("whsec_") and second != first
    assert rotated["carrier"]["rotating"] is True
    (event,) = await ops.audited()
    assert event.action == "carrierSecretRotate"
    _holds_no_secret(event, first, second)
    [listed] = await ops.listed(code)
    assert listed["rotating"] is True
    assert second not in json.dumps(listed)


@pytest.mark.parametrize(
    ("fields", "problems"),
    [
        (
            {"trackingUrlTemplate": "https://parcels.example/track"},
            [(("input", "trackingUrlTemplate"), "INVALID")],
        ),
        (
            {"trackingUrlTemplate": "http://parcels.example/{tracking_number}"},
            [(("input", "trackingUrlTemplate"), "INVALID")],
        ),
        ({"code": "Parcel Express!"}, [(("input", "code"), "INVALID")]),
        ({"name": "  "}, [(("input", "name"), "REQUIRED")]),
        (
            {
                "statusMap": [
                    {"carrierCode": "OK", "status": "DELIVERED"},
                    {"carrierCode": "??", "status": "IN_TRANSIT"},
                ]
            },
            [(("input", "statusMap", "1"), "INVALID")],
        ),
        (
            {"statusMap": [{"carrierCode": "XX", "status": "UNKNOWN"}]},
            [(("input", "statusMap", "0"), "INVALID")],
        ),
    ],
)
async def test_bad_carrier_input_is_refused_and_writes_nothing(
    ops: Ops, fields: dict[str, Any], problems: list[tuple[tuple[str, ...], str]]
) -> None:
    attempt = _input(**fields)
    refused = await ops(CREATE, i=attempt)
    assert (refused["carrier"], refused["webhookSecret"]) == (None, None)
    assert _problems(refused) == problems
    assert await ops.audited() == []
    assert await ops.listed(attempt["code"]) == []


async def test_a_status_outside_the_enum_is_a_request_error(ops: Ops) -> None:
    attempt = _input(statusMap=[{"carrierCode": "LOST", "status": "LOST"}])
    refused = await ops.call(CREATE, i=attempt)
    assert refused.data is None
    assert refused.codes == ["GRAPHQL_VALIDATION_FAILED"], refused.body
    assert await ops.listed(attempt["code"]) == []


async def test_carrier_codes_are_unique(ops: Ops) -> None:
    taken = (await ops(CREATE, i=_input()))["carrier"]["code"]
    again = await ops(CREATE, i=_input(taken, name="Copycat"))
    assert _problems(again) == [(("input", "code"), "DUPLICATE_CODE")]
    assert [c["name"] for c in await ops.listed(taken)] == ["Parcel Express"]
    other = (await ops(CREATE, i=_input()))["carrier"]
    renamed = await ops(UPDATE, id=other["id"], i=_input(taken))
    assert _problems(renamed) == [(("input", "code"), "DUPLICATE_CODE")]
    assert await ops.listed(other["code"]) == [other]
    missing = await ops(UPDATE, id=gid("Carrier", 10**12), i=_input())
    assert _problems(missing) == [(("id",), "NOT_FOUND")]


async def test_shop_staff_may_not_manage_carriers(world: World, gql: GraphQLClient) -> None:
    _, staff = await world.user("business")
    attempt = _input()
    refused = await gql(CREATE, {"i": attempt}, shop=world.handle, token=staff)
    assert refused.codes == ["FORBIDDEN"]
    listing = await gql(LIST, shop=world.handle, token=staff)
    assert listing.codes == ["FORBIDDEN"]


async def _rate_id(world: World) -> str:
    async with world.services.db.reader() as session:
        rate = await session.scalar(
            select(ShippingRate.id)
            .join(ShippingZone, ShippingZone.id == ShippingRate.zone_id)
            .where(ShippingZone.shop_id == world.shop.id)
        )
    assert rate is not None
    return gid("ShippingRate", rate)


async def test_a_rate_tied_to_a_carrier_shows_the_carrier_at_the_cart(
    ops: Ops, world: World, gql: GraphQLClient, other_world: World
) -> None:
    await ship_to(world)
    cart = cart_gid(world, await ready_cart(world, await stocked_variant(world)))
    rate = await _rate_id(world)
    carrier = (await ops(CREATE, i=_input(name="DPD Classic")))["carrier"]

    async def methods() -> list[dict[str, Any]]:
        found = (await gql(CART, {"id": cart}, shop=world.handle)).ok()
        return found["cart"]["availableShippingMethods"]  # type: ignore[no-any-return]

    [before] = await methods()
    assert (before["code"], before["carrier"]) == ("standard", None)
    tied = await ops(RATE_CARRIER, id=rate, c=carrier["code"])
    assert tied == {
        "shippingRate": {"code": "standard", "carrierCode": carrier["code"]},
        "errors": [],
    }
    (event,) = await ops.audited()
    assert (event.action, event.outcome) == ("shippingRateCarrierSet", "allowed")
    [after] = await methods()
    assert after["carrier"] == {"code": carrier["code"], "name": "DPD Classic"}
    assert (after["minDeliveryDays"], after["maxDeliveryDays"]) == (2, 4)

    unknown = await ops(RATE_CARRIER, id=rate, c="no-such-carrier")
    assert _problems(unknown) == [(("carrierCode",), "UNKNOWN_CARRIER")]
    await ship_to(other_world)
    foreign = await ops(RATE_CARRIER, id=await _rate_id(other_world), c=carrier["code"])
    assert _problems(foreign) == [(("id",), "NOT_FOUND")]
    assert (await methods())[0]["carrier"]["code"] == carrier["code"]

    untied = await ops(RATE_CARRIER, id=rate, c=None)
    assert untied["shippingRate"]["carrierCode"] is None
    assert (await methods())[0]["carrier"] is None
