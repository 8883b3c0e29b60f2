"""Reading charges: finance sees every charge, a partner's owner sees the partner's own, and
nobody else sees any."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from marketplace.app_models import Installation
from marketplace.billing_run import run_billing
from marketplace.listing_models import PlanInterval, PlanKind
from tests.support.billing import Billing, at, make_installation, make_plan
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.marketplace import make_app, make_partner

pytestmark = pytest.mark.anyio

FIELDS = """nodes { id kind status description amount { amount currencyCode } periodStart
  periodEnd test tier shareBps earnedAt installationId partnerId }
  pageInfo { hasNextPage endCursor }"""
CHARGES = f"""query($f: ChargeFilter, $first: Int, $after: String) {{
  charges(filter: $f, first: $first, after: $after) {{ {FIELDS} }} }}"""
PARTNER_CHARGES = f"""query($p: ID!, $f: ChargeFilter) {{
  partnerCharges(partnerId: $p, filter: $f) {{ {FIELDS} }} }}"""


async def _billed(world: World) -> tuple[int, str, Installation]:
    """A partner (id, owner token) whose monthly plan was billed for Feb and Mar 2020."""
    partner, owner = await make_partner(world)
    app, _ = await make_app(world, partner)
    plan = await make_plan(world, app, PlanKind.RECURRING, amount=1999, interval=PlanInterval.MONTH)
    installation = await make_installation(world, app, plan, activated_at=at(date(2020, 2, 1)))
    billing = Billing.on(world, at(date(2020, 2, 2)))
    await run_billing(billing, date(2020, 2, 2))
    billing.clock.now = at(date(2020, 3, 1))
    await run_billing(billing, date(2020, 3, 1))
    return partner, owner, installation


def _installation_filter(installation: Installation) -> dict[str, Any]:
    return {"installationId": gid("Installation", installation.id)}


async def test_finance_reads_charges_newest_first_in_pages(
    world: World, gql: GraphQLClient
) -> None:
    partner, _, installation = await _billed(world)
    _, finance = await world.user("finance", domain="platform")
    variables: dict[str, Any] = {"f": _installation_filter(installation), "first": 1}
    page = (await gql(CHARGES, variables, token=finance)).ok()["charges"]
    [march] = page["nodes"]
    assert page["pageInfo"]["hasNextPage"] is True
    assert march["periodStart"] == "2020-03-01" and march["periodEnd"] == "2020-04-01"
    assert (march["kind"], march["status"], march["test"]) == ("RECURRING", "COLLECTED", False)
    assert march["amount"] == {"amount": "19.99", "currencyCode": "EUR"}
    assert (march["tier"], march["shareBps"]) == ("STANDARD", 7000)
    assert march["earnedAt"].startswith("2020-03-01T12:00:00")
    assert march["partnerId"] == gid("Partner", partner)

    variables["after"] = page["pageInfo"]["endCursor"]
    rest = (await gql(CHARGES, variables, token=finance)).ok()["charges"]
    assert [n["periodStart"] for n in rest["nodes"]] == ["2020-02-01"]
    assert rest["pageInfo"]["hasNextPage"] is False

    failed = {**_installation_filter(installation), "status": "FAILED"}
    none = (await gql(CHARGES, {"f": failed}, token=finance)).ok()["charges"]
    assert none["nodes"] == []


async def test_a_partner_owner_reads_only_its_own_charges(world: World, gql: GraphQLClient) -> None:
    partner, owner, installation = await _billed(world)
    other_partner, _, other_installation = await _billed(world)
    mine = (await gql(PARTNER_CHARGES, {"p": gid("Partner", partner)}, token=owner)).ok()
    periods = {
        n["periodStart"]
        for n in mine["partnerCharges"]["nodes"]
        if n["installationId"] == gid("Installation", installation.id)
    }
    assert periods == {"2020-02-01", "2020-03-01"}
    assert {n["partnerId"] for n in mine["partnerCharges"]["nodes"]} == {gid("Partner", partner)}

    # A filter naming another partner's installation finds nothing through one's own partner.
    sneaky = {"p": gid("Partner", partner), "f": _installation_filter(other_installation)}
    assert (await gql(PARTNER_CHARGES, sneaky, token=owner)).ok()["partnerCharges"]["nodes"] == []
    # And another partner's charges are refused outright.
    theirs = await gql(PARTNER_CHARGES, {"p": gid("Partner", other_partner)}, token=owner)
    assert theirs.codes == ["FORBIDDEN"]


async def test_nobody_else_reads_charges(world: World, gql: GraphQLClient) -> None:
    partner, _, _ = await _billed(world)
    _, business = await world.user("business")
    _, ops = await world.user("ops", domain="platform")
    for token in (business, ops, None):
        assert (await gql(CHARGES, {}, token=token, shop=world.handle)).codes == ["FORBIDDEN"]
    _, finance = await world.user("finance", domain="platform")
    refused = await gql(PARTNER_CHARGES, {"p": gid("Partner", partner)}, token=finance)
    assert refused.codes == ["FORBIDDEN"]
