"""usageRecordCreate through HTTP with an app's install token: priced, capped, replayable,
audited, and refused to anyone without billing:usage in the installation's shop."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from app.security.audit import AuditEvent
from marketplace.app_models import App, Installation
from marketplace.listing_models import PlanKind
from tests.support.billing import make_installation, make_plan
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.marketplace import make_app, make_partner

pytestmark = pytest.mark.anyio

RECORD = """mutation($i: ID!, $q: Int!, $k: String!, $d: String! = "") {
  usageRecordCreate(installationId: $i, quantity: $q, idempotencyKey: $k, description: $d) {
    usageRecord { id quantity description amount { amount currencyCode } }
    replayed errors { field code message } } }"""


def install_token(world: World, client_id: str, shop_id: int, scope: str = "billing:usage") -> str:
    extra = {"shop": shop_id, "client_id": client_id}
    return str(world.services.tokens.issue(f"app:{client_id}", scope=scope, extra=extra))


async def _installed(
    world: World, *, unit: int = 250, cap: int | None = 1000
) -> tuple[App, Installation]:
    partner, _ = await make_partner(world)
    app, _ = await make_app(world, partner)
    plan = await make_plan(world, app, PlanKind.USAGE, amount=unit, usage_cap=cap)
    installation = await make_installation(world, app, plan, activated_at=datetime.now(UTC))
    return app, installation


async def _record(
    gql: GraphQLClient,
    token: str,
    installation: Installation | str,
    quantity: int,
    key: str,
    description: str = "",
) -> Any:
    target = installation if isinstance(installation, str) else gid("Installation", installation.id)
    variables = {"i": target, "q": quantity, "k": key, "d": description}
    return await gql(RECORD, variables, token=token)


async def test_an_app_records_usage_and_a_replay_returns_the_first_record(
    world: World, gql: GraphQLClient
) -> None:
    app, installation = await _installed(world)
    token = install_token(world, app.client_id, world.shop.id)
    first = (await _record(gql, token, installation, 3, "u-1", "3 label prints")).ok()
    payload = first["usageRecordCreate"]
    assert payload["errors"] == [] and payload["replayed"] is False
    record = payload["usageRecord"]
    assert record["quantity"] == 3 and record["description"] == "3 label prints"
    assert record["amount"] == {"amount": "7.50", "currencyCode": "EUR"}

    again = (await _record(gql, token, installation, 3, "u-1", "3 label prints")).ok()
    assert again["usageRecordCreate"]["replayed"] is True
    assert again["usageRecordCreate"]["usageRecord"] == record

    async with world.services.db.reader() as session:
        audited = list(
            await session.scalars(
                select(AuditEvent).where(
                    AuditEvent.action == "usageRecordCreate",
                    AuditEvent.target_id == record["id"],
                )
            )
        )
    assert [(a.actor, a.domain, a.target_type) for a in audited] == [
        (f"app:{app.client_id}", f"shop:{world.shop.id}", "UsageRecord")
    ]


async def test_a_replayed_key_with_different_input_conflicts(
    world: World, gql: GraphQLClient
) -> None:
    app, installation = await _installed(world)
    token = install_token(world, app.client_id, world.shop.id)
    (await _record(gql, token, installation, 1, "dup")).ok()
    other = (await _record(gql, token, installation, 2, "dup")).ok()["usageRecordCreate"]
    assert other["usageRecord"] is None and other["replayed"] is False
    assert [(e["code"], e["field"]) for e in other["errors"]] == [
        ("IDEMPOTENCY_CONFLICT", ["idempotencyKey"])
    ]


async def test_a_record_over_the_cap_is_refused(world: World, gql: GraphQLClient) -> None:
    app, installation = await _installed(world, unit=250, cap=1000)
    token = install_token(world, app.client_id, world.shop.id)
    assert (await _record(gql, token, installation, 3, "c-1")).ok()["usageRecordCreate"][
        "errors"
    ] == []
    over = (await _record(gql, token, installation, 2, "c-2")).ok()["usageRecordCreate"]
    assert over["usageRecord"] is None
    assert [(e["code"], e["field"]) for e in over["errors"]] == [
        ("USAGE_CAP_EXCEEDED", ["quantity"])
    ]
    last = (await _record(gql, token, installation, 1, "c-3")).ok()["usageRecordCreate"]
    assert last["errors"] == [] and last["usageRecord"]["amount"]["amount"] == "2.50"


async def test_bad_quantities_and_ids_are_payload_errors(world: World, gql: GraphQLClient) -> None:
    app, installation = await _installed(world, cap=None)
    token = install_token(world, app.client_id, world.shop.id)
    for quantity, field in ((0, "quantity"), (10**9 + 1, "quantity")):
        bad = (await _record(gql, token, installation, quantity, uuid.uuid4().hex)).ok()
        assert [(e["code"], e["field"]) for e in bad["usageRecordCreate"]["errors"]] == [
            ("INVALID", [field])
        ]
    mistyped = (await _record(gql, token, gid("App", app.id), 1, "k")).ok()
    assert [e["code"] for e in mistyped["usageRecordCreate"]["errors"]] == ["NOT_FOUND"]


async def test_another_apps_token_cannot_record_for_the_installation(
    world: World, gql: GraphQLClient
) -> None:
    _, installation = await _installed(world)
    stranger_partner, _ = await make_partner(world)
    stranger, _ = await make_app(world, stranger_partner)
    token = install_token(world, stranger.client_id, world.shop.id)
    refused = (await _record(gql, token, installation, 1, "s-1")).ok()["usageRecordCreate"]
    assert [(e["code"], e["field"]) for e in refused["errors"]] == [
        ("NOT_FOUND", ["installationId"])
    ]


async def test_a_token_for_another_shop_reaches_only_that_shop(
    world: World, other_world: World, gql: GraphQLClient
) -> None:
    app, installation = await _installed(world)
    token = install_token(world, app.client_id, other_world.shop.id)
    # Without a header the token's own shop is the request's: the installation is not there.
    elsewhere = (await _record(gql, token, installation, 1, "o-1")).ok()["usageRecordCreate"]
    assert [e["code"] for e in elsewhere["errors"]] == ["NOT_FOUND"]
    # Naming the installation's shop with the header is refused outright.
    named = await gql(
        RECORD,
        {"i": gid("Installation", installation.id), "q": 1, "k": "o-2"},
        token=token,
        shop=world.handle,
    )
    assert named.codes == ["FORBIDDEN"]


async def test_without_billing_usage_the_call_is_forbidden(
    world: World, gql: GraphQLClient
) -> None:
    app, installation = await _installed(world)
    no_scope = install_token(world, app.client_id, world.shop.id, scope="goods:read")
    denied = await _record(gql, no_scope, installation, 1, "f-1")
    assert denied.codes == ["FORBIDDEN"]
    assert denied.data == {"usageRecordCreate": None}

    _, business = await world.user("business")
    staff = await gql(
        RECORD,
        {"i": gid("Installation", installation.id), "q": 1, "k": "f-2"},
        token=business,
        shop=world.handle,
    )
    assert staff.codes == ["FORBIDDEN"]
    anonymous = await gql(
        RECORD, {"i": gid("Installation", installation.id), "q": 1, "k": "f-3"}, shop=world.handle
    )
    assert anonymous.codes == ["FORBIDDEN"]
