"""Pricing plans through HTTP: the four kinds, what each must and must not say, and a plan that
shops are on keeping its price."""

from __future__ import annotations

from typing import Any

import pytest

from marketplace.app_models import Installation, InstallationStatus
from schema.node import parse_id
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.listings import Made, published_listing, slug

pytestmark = pytest.mark.anyio

PLAN = "pricingPlan { id name kind price { amount currencyCode } interval trialDays usageCap { amount currencyCode } active }"
CREATE = f"mutation($id: ID!, $input: PricingPlanInput!) {{ pricingPlanCreate(listingId: $id, input: $input) {{ {PLAN} errors {{ code field }} }} }}"
UPDATE = f"mutation($id: ID!, $input: PricingPlanInput!) {{ pricingPlanUpdate(planId: $id, input: $input) {{ {PLAN} errors {{ code field }} }} }}"
ARCHIVE = (
    f"mutation($id: ID!) {{ pricingPlanArchive(planId: $id) {{ {PLAN} errors {{ code field }} }} }}"
)
PLANS = "query($slug: String!) { listing(slug: $slug) { plans { name } } }"


def _eur(amount: str) -> dict[str, str]:
    return {"amount": amount, "currencyCode": "EUR"}


@pytest.fixture
async def listing(world: World) -> Made:
    return await published_listing(world, plan_drafts=(), category=slug("plans"))


async def _create(gql: GraphQLClient, made: Made, **plan: Any) -> dict[str, Any]:
    variables = {"id": gid("Listing", made.listing_id), "input": plan}
    return (await gql(CREATE, variables, token=made.business_token)).ok()["pricingPlanCreate"]


async def test_each_kind_of_plan_says_what_a_shop_pays(gql: GraphQLClient, listing: Made) -> None:
    free = await _create(gql, listing, name="Free", kind="FREE", price=_eur("0"))
    monthly = await _create(
        gql,
        listing,
        name="Pro",
        kind="RECURRING",
        price=_eur("19.00"),
        interval="YEAR",
        trialDays=30,
    )
    usage = await _create(
        gql, listing, name="Metered", kind="USAGE", price=_eur("0.05"), usageCap=_eur("50.00")
    )
    once = await _create(gql, listing, name="Setup", kind="ONE_TIME", price=_eur("99.99"))
    shapes = [
        {k: v for k, v in p["pricingPlan"].items() if k != "id"}
        for p in (free, monthly, usage, once)
    ]
    assert shapes == [
        {"name": "Free", "kind": "FREE", "price": _eur("0.00"), "interval": None, "trialDays": 0, "usageCap": None, "active": True},
        {"name": "Pro", "kind": "RECURRING", "price": _eur("19.00"), "interval": "YEAR", "trialDays": 30, "usageCap": None, "active": True},
        {"name": "Metered", "kind": "USAGE", "price": _eur("0.05"), "interval": "MONTH", "trialDays": 0, "usageCap": _eur("50.00"), "active": True},
        {"name": "Setup", "kind": "ONE_TIME", "price": _eur("99.99"), "interval": None, "trialDays": 0, "usageCap": None, "active": True},
    ]  # fmt: skip
    shown = (await gql(PLANS, {"slug": listing.slug})).ok()["listing"]["plans"]
    assert [p["name"] for p in shown] == ["Free", "Metered", "Pro", "Setup"]  # cheapest first


@pytest.mark.parametrize(
    ("plan", "errors"),
    [
        ({"kind": "RECURRING", "price": _eur("10.00")}, [["input", "interval"]]),
        ({"kind": "USAGE", "price": _eur("0.10")}, [["input", "usageCap"]]),
        ({"kind": "USAGE", "price": _eur("5.00"), "usageCap": _eur("1.00")}, [["input", "usageCap"]]),
        ({"kind": "USAGE", "price": _eur("1.00"), "usageCap": {"amount": "9", "currencyCode": "USD"}}, [["input", "usageCap", "currencyCode"]]),
        ({"kind": "FREE", "price": _eur("1.00")}, [["input", "price"]]),
        ({"kind": "ONE_TIME", "price": _eur("0")}, [["input", "price"]]),
        ({"kind": "ONE_TIME", "price": _eur("1.234")}, [["input", "price"]]),
        ({"kind": "ONE_TIME", "price": {"amount": "5", "currencyCode": "XXX"}}, [["input", "price", "currencyCode"]]),
        ({"kind": "ONE_TIME", "price": _eur("5.00"), "trialDays": 7}, [["input", "trialDays"]]),
        ({"kind": "RECURRING", "price": _eur("5.00"), "interval": "MONTH", "trialDays": 400}, [["input", "trialDays"]]),
        ({"kind": "FREE", "price": _eur("0"), "interval": "MONTH"}, [["input", "interval"]]),
    ],
)  # fmt: skip
async def test_a_plan_that_does_not_add_up_is_refused(
    gql: GraphQLClient, listing: Made, plan: dict[str, Any], errors: list[list[str]]
) -> None:
    result = await _create(gql, listing, name="Plan", **plan)
    assert result["pricingPlan"] is None
    assert [e["field"] for e in result["errors"]] == errors
    assert {e["code"] for e in result["errors"]} == {"INVALID"}


async def test_a_plan_shops_are_on_keeps_its_price_but_may_be_renamed(
    world: World, gql: GraphQLClient, listing: Made
) -> None:
    created = await _create(
        gql, listing, name="Pro", kind="RECURRING", price=_eur("19.00"), interval="MONTH"
    )
    plan_id = created["pricingPlan"]["id"]
    # Before anyone is on it, the price may change
    cheaper = {"name": "Pro", "kind": "RECURRING", "price": _eur("15.00"), "interval": "MONTH"}
    result = await gql(UPDATE, {"id": plan_id, "input": cheaper}, token=listing.business_token)
    assert result.ok()["pricingPlanUpdate"]["pricingPlan"]["price"] == _eur("15.00")
    # Once a shop has installed on it, it may not
    async with world.services.db.writer() as session, session.begin():
        session.add(
            Installation(
                app_id=listing.app_id,
                shop_id=world.shop.id,
                listing_id=listing.listing_id,
                plan_id=_pk(plan_id),
                status=InstallationStatus.ACTIVE,
            )
        )
    dearer = cheaper | {"price": _eur("29.00")}
    refused = (
        await gql(UPDATE, {"id": plan_id, "input": dearer}, token=listing.business_token)
    ).ok()
    assert [e["code"] for e in refused["pricingPlanUpdate"]["errors"]] == ["PLAN_IN_USE"]
    renamed = cheaper | {"name": "Pro (legacy)"}
    result = await gql(UPDATE, {"id": plan_id, "input": renamed}, token=listing.business_token)
    assert result.ok()["pricingPlanUpdate"]["pricingPlan"]["name"] == "Pro (legacy)"


async def test_an_archived_plan_is_no_longer_offered(gql: GraphQLClient, listing: Made) -> None:
    kept = await _create(gql, listing, name="Free", kind="FREE", price=_eur("0"))
    gone = await _create(gql, listing, name="Old", kind="ONE_TIME", price=_eur("5.00"))
    assert kept["errors"] == []
    for _ in range(2):  # archiving twice changes nothing more
        archived = await gql(
            ARCHIVE, {"id": gone["pricingPlan"]["id"]}, token=listing.business_token
        )
        assert archived.ok()["pricingPlanArchive"]["pricingPlan"]["active"] is False
    shown = (await gql(PLANS, {"slug": listing.slug})).ok()["listing"]["plans"]
    assert [p["name"] for p in shown] == ["Free"]


async def test_another_partner_cannot_touch_the_plans(
    world: World, gql: GraphQLClient, listing: Made
) -> None:
    other = await published_listing(world)
    created = await _create(gql, listing, name="Free", kind="FREE", price=_eur("0"))
    plan_id = created["pricingPlan"]["id"]
    update = {"name": "Mine", "kind": "FREE", "price": _eur("0")}
    for query, variables in (
        (UPDATE, {"id": plan_id, "input": update}),
        (ARCHIVE, {"id": plan_id}),
    ):
        assert (await gql(query, variables, token=other.business_token)).codes == ["FORBIDDEN"]


def _pk(global_id: str) -> int:
    parsed = parse_id(global_id)
    assert parsed is not None
    return parsed[1]
