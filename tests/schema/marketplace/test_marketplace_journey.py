"""The whole marketplace path through HTTP, as partners, admins, merchants and apps live it:
a partner registers and builds an app, lists it, gets it reviewed and published; merchants
install it through the consent page and PKCE; the app calls the API, reports usage and is
billed; the billing run charges a subscription after its trial, and not before."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.security.clients import IssuedCredentials
from marketplace.billing_models import Charge, ChargeKind, ChargeStatus
from marketplace.billing_run import run_billing
from tests.support.clock import MutableClock
from tests.support.factories import World, unique
from tests.support.graphql import GraphQLClient
from tests.support.installing import complete_install

pytestmark = pytest.mark.anyio

REGISTER = 'mutation { partnerRegister(input: {name: "Ledgerly", contactEmail: "hi@ledgerly.example"}) { partner { id } errors { code } } }'
APP = 'mutation($p: ID!) { appCreate(input: {partnerId: $p, name: "Ledgerly Sync", redirectUris: ["https://app.example/callback"], scopes: ["goods:read", "billing:usage"]}) { app { id clientId } clientSecret errors { code } } }'
VERSION = 'mutation($a: ID!) { appVersionCreate(appId: $a, version: "1.0.0", manifest: {appUrl: "https://app.example", webhookUrl: "https://app.example/hooks"}) { errors { code } } }'
LISTING = 'mutation($a: ID!, $s: String!) { listingCreate(appId: $a, input: {slug: $s, name: "Ledgerly Sync", category: "accounting", tagline: "Books that balance"}) { listing { id } errors { code } } }'
PLAN = "mutation($l: ID!, $i: PricingPlanInput!) { pricingPlanCreate(listingId: $l, input: $i) { pricingPlan { id } errors { field code } } }"
SUBMIT = "mutation($l: ID!) { listingSubmit(listingId: $l) { errors { code } } }"
REVIEW = 'mutation($l: ID!) { listingReview(listingId: $l, decision: APPROVE, notes: "Looks right") { errors { code } } }'
PUBLISH = "mutation($l: ID!) { listingPublish(listingId: $l) { listing { slug } errors { code } } }"
BROWSE = "query($q: String!) { marketplaceListings(first: 5, query: $q) { nodes { slug installs plans { name } } } }"
INSTALL = "mutation($l: ID!, $p: ID!) { appInstall(listingId: $l, planId: $p) { installation { id } authorizationUrl errors { code } } }"
USAGE = 'mutation($i: ID!, $k: String!) { usageRecordCreate(installationId: $i, quantity: 10, idempotencyKey: $k, description: "10 syncs") { usageRecord { amount { amount } } errors { code } } }'


def _ok(result: Any, field: str) -> Any:
    payload = result.ok()[field]
    assert payload["errors"] == [], (field, payload)
    return payload


async def _merchant(world: World) -> tuple[str, str]:
    email = f"{unique('shop')}@example.com"
    _, token = await world.user("business", email=email)
    return email, token


async def _install(
    world: World,
    http: httpx.AsyncClient,
    gql: GraphQLClient,
    credentials: IssuedCredentials,
    listing: str,
    plan: str,
) -> tuple[dict[str, Any], str]:
    email, merchant = await _merchant(world)
    asked = _ok(
        await gql(INSTALL, {"l": listing, "p": plan}, shop=world.handle, token=merchant),
        "appInstall",
    )
    # Each merchant has a browser of their own (cookies are per browser).
    transport = httpx.ASGITransport(app=world.app)
    async with httpx.AsyncClient(transport=transport, base_url=str(http.base_url)) as browser:
        tokens = await complete_install(
            browser, world, credentials, asked["authorizationUrl"], email
        )
    return tokens, asked["installation"]["id"]


async def _charges(world: World, kind: ChargeKind) -> list[Charge]:
    async with world.services.db.reader() as session:
        rows = await session.scalars(
            select(Charge).where(Charge.shop_id == world.shop.id, Charge.kind == kind)
        )
        return list(rows)


async def test_partner_to_paid_app(
    world: World,
    other_world: World,
    http: httpx.AsyncClient,
    gql: GraphQLClient,
    clock: MutableClock,
) -> None:
    # A partner registers and builds an app.
    _, owner = await world.user()
    partner = _ok(await gql(REGISTER, token=owner), "partnerRegister")["partner"]["id"]
    made = _ok(await gql(APP, {"p": partner}, token=owner), "appCreate")
    credentials = IssuedCredentials(made["app"]["clientId"], made["clientSecret"], "")
    _ok(await gql(VERSION, {"a": made["app"]["id"]}, token=owner), "appVersionCreate")

    # It lists the app with two plans, and an admin approves the listing before it goes out.
    slug = unique("ledgerly")
    listing = _ok(
        await gql(LISTING, {"a": made["app"]["id"], "s": slug}, token=owner), "listingCreate"
    )["listing"]["id"]
    eur = "EUR"
    usage_plan = _ok(
        await gql(
            PLAN,
            {
                "l": listing,
                "i": {
                    "name": "Pay per sync",
                    "kind": "USAGE",
                    "price": {"amount": "0.50", "currencyCode": eur},
                    "usageCap": {"amount": "100.00", "currencyCode": eur},
                    "interval": "MONTH",
                },
            },
            token=owner,
        ),
        "pricingPlanCreate",
    )["pricingPlan"]["id"]
    monthly_plan = _ok(
        await gql(
            PLAN,
            {
                "l": listing,
                "i": {
                    "name": "Monthly",
                    "kind": "RECURRING",
                    "price": {"amount": "9.00", "currencyCode": eur},
                    "interval": "MONTH",
                    "trialDays": 14,
                },
            },
            token=owner,
        ),
        "pricingPlanCreate",
    )["pricingPlan"]["id"]
    _ok(await gql(SUBMIT, {"l": listing}, token=owner), "listingSubmit")
    assert (await gql(BROWSE, {"q": slug})).ok()["marketplaceListings"]["nodes"] == []
    admin = (await world.user("community_admin", domain="platform"))[1]
    _ok(await gql(REVIEW, {"l": listing}, token=admin), "listingReview")
    _ok(await gql(PUBLISH, {"l": listing}, token=owner), "listingPublish")
    public = (await gql(BROWSE, {"q": "Ledgerly"})).ok()["marketplaceListings"]["nodes"]
    assert [(n["slug"], n["installs"]) for n in public if n["slug"] == slug] == [(slug, 0)]

    # A merchant installs it on a usage plan; the app works in the shop with its token.
    tokens, installation = await _install(world, http, gql, credentials, listing, usage_plan)
    await world.product("Ledger paper")
    seen = (
        await gql("{ products(first: 10) { nodes { title } } }", token=tokens["access_token"])
    ).ok()
    assert "Ledger paper" in [p["title"] for p in seen["products"]["nodes"]]

    # The app reports usage; a replay of the key changes nothing.
    first = _ok(
        await gql(USAGE, {"i": installation, "k": "sync-1"}, token=tokens["access_token"]),
        "usageRecordCreate",
    )
    again = _ok(
        await gql(USAGE, {"i": installation, "k": "sync-1"}, token=tokens["access_token"]),
        "usageRecordCreate",
    )
    assert (
        first["usageRecord"]["amount"]["amount"]
        == again["usageRecord"]["amount"]["amount"]
        == "5.00"
    )

    # The billing run after the month closes bills the usage, collected, at the partner's share.
    today = clock().date()
    next_month = (today.replace(day=1) + timedelta(days=32)).replace(day=1)
    await run_billing(world.services.marketplace, next_month)
    [usage] = await _charges(world, ChargeKind.USAGE)
    assert (usage.amount, usage.currency, usage.status) == (500, "EUR", ChargeStatus.COLLECTED)
    assert (usage.tier.value if usage.tier else None, usage.share_bps) == ("standard", 7_000)

    # Another merchant subscribes monthly with a 14-day trial: nothing before it ends, one after.
    _, subscription = await _install(other_world, http, gql, credentials, listing, monthly_plan)
    assert subscription
    await run_billing(world.services.marketplace, today + timedelta(days=13))
    assert await _charges(other_world, ChargeKind.RECURRING) == []
    await run_billing(world.services.marketplace, today + timedelta(days=14))
    await run_billing(world.services.marketplace, today + timedelta(days=14))
    [monthly] = await _charges(other_world, ChargeKind.RECURRING)
    assert (monthly.amount, monthly.status) == (900, ChargeStatus.COLLECTED)
    # The month being charged is the one in which the trial ended.
    assert monthly.period_start == (today + timedelta(days=14)).replace(day=1)
