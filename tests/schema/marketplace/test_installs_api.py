"""Installing apps through HTTP: the merchant's request, the consent page with PKCE, activation
at the app's first token, the three-powers rule, and uninstall revocation."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import select

from app.security.clients import IssuedCredentials
from marketplace.app_models import App, Installation
from marketplace.apps import rotate_credentials
from marketplace.listing_models import Listing
from marketplace.versions import create_version, set_rollout
from schema.node import parse_id
from tests.support.factories import World, gid, unique
from tests.support.graphql import GraphQLClient
from tests.support.installing import complete_install
from tests.support.matrix_marketplace import published_listing

pytestmark = pytest.mark.anyio

INSTALL = "mutation($l: ID!, $p: ID) { appInstall(listingId: $l, planId: $p) { installation { id status } authorizationUrl appUrl errors { field code } } }"
INSTALLATIONS = "{ installations { id appName status settings version { version manifest { appUrl webhookUrl } } } }"
CONFIGURE = "mutation($i: ID!, $s: JSON!) { installationConfigure(id: $i, settings: $s) { installation { settings } errors { code } } }"
UNINSTALL = "mutation($i: ID!) { appUninstall(id: $i) { installation { status } errors { code } } }"


async def _credentials(world: World, listing: int) -> tuple[App, IssuedCredentials]:
    """Rotate the listing app's secret to learn one (the factory's copy is not kept)."""
    async with world.services.db.writer() as session, session.begin():
        app = await session.scalar(
            select(App).join(Listing, Listing.app_id == App.id).where(Listing.id == listing)
        )
        assert app is not None
        _, secret = await rotate_credentials(
            session,
            app.id,
            grace=world.services.marketplace.credential_grace,
            now=world.services.clock(),
        )
    return app, IssuedCredentials(app.client_id, secret, "")


async def _merchant(world: World) -> tuple[str, str]:
    email = f"{unique('biz')}@example.com"
    _, token = await world.user("business", email=email)
    return email, token


async def _installed(
    world: World, http: httpx.AsyncClient, gql: GraphQLClient
) -> tuple[dict[str, Any], str, str]:
    """An app installed in the world's shop through the whole flow: (tokens, merchant token,
    installation ID)."""
    listing, plan = await published_listing(world)
    _, credentials = await _credentials(world, listing)
    email, merchant = await _merchant(world)
    asked = (
        await gql(
            INSTALL,
            {"l": gid("Listing", listing), "p": gid("PricingPlan", plan)},
            shop=world.handle,
            token=merchant,
        )
    ).ok()["appInstall"]
    assert asked["errors"] == [] and asked["installation"]["status"] == "PENDING"
    tokens = await complete_install(http, world, credentials, asked["authorizationUrl"], email)
    return tokens, merchant, asked["installation"]["id"]


async def test_an_install_becomes_active_at_the_apps_first_token(
    world: World, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    tokens, merchant, installation = await _installed(world, http, gql)
    assert set(tokens["scope"].split()) == {"goods:read", "billing:usage"}
    listed = (await gql(INSTALLATIONS, shop=world.handle, token=merchant)).ok()["installations"]
    assert [(i["id"], i["status"]) for i in listed] == [(installation, "ACTIVE")]

    # The app reads the shop's catalog with its shop-scoped token, no shop header needed.
    await world.product("Installed view")
    seen = (
        await gql(
            "{ shop { handle } products(first: 5) { nodes { title } } }",
            token=tokens["access_token"],
        )
    ).ok()
    assert seen["shop"]["handle"] == world.handle
    assert "Installed view" in [p["title"] for p in seen["products"]["nodes"]]
    async with world.services.db.reader() as session:
        listing = await session.scalar(
            select(Listing.installs)
            .join(Installation, Installation.listing_id == Listing.id)
            .where(Installation.shop_id == world.shop.id)
        )
    assert listing == 1


async def test_a_second_install_of_an_active_app_is_refused(
    world: World, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    listing, plan = await published_listing(world)
    _, credentials = await _credentials(world, listing)
    email, merchant = await _merchant(world)
    variables = {"l": gid("Listing", listing), "p": gid("PricingPlan", plan)}
    asked = (await gql(INSTALL, variables, shop=world.handle, token=merchant)).ok()["appInstall"]
    await complete_install(http, world, credentials, asked["authorizationUrl"], email)
    again = (await gql(INSTALL, variables, shop=world.handle, token=merchant)).ok()["appInstall"]
    assert again["errors"] == [{"field": ["listingId"], "code": "ALREADY_INSTALLED"}]


async def test_only_the_shop_configures_its_installs(
    world: World, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    _, merchant, installation = await _installed(world, http, gql)
    done = (
        await gql(
            CONFIGURE,
            {"i": installation, "s": {"theme": "dark"}},
            shop=world.handle,
            token=merchant,
        )
    ).ok()
    assert done["installationConfigure"] == {
        "installation": {"settings": {"theme": "dark"}},
        "errors": [],
    }
    for role, domain in (("developer", f"partner:{world.partner_id}"), ("ops", "platform")):
        _, token = await world.user(role, domain=domain)
        refused = await gql(
            CONFIGURE, {"i": installation, "s": {"theme": "x"}}, shop=world.handle, token=token
        )
        assert refused.codes == ["FORBIDDEN"], role


async def test_uninstalling_revokes_the_apps_tokens_at_once(
    world: World, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    tokens, merchant, installation = await _installed(world, http, gql)
    access = {"authorization": f"Bearer {tokens['access_token']}"}
    assert (
        await http.post("/graphql", json={"query": "{ shop { handle } }"}, headers=access)
    ).status_code == 200

    gone = (await gql(UNINSTALL, {"i": installation}, shop=world.handle, token=merchant)).ok()
    assert gone["appUninstall"] == {"installation": {"status": "UNINSTALLED"}, "errors": []}
    assert (
        await http.post("/graphql", json={"query": "{ shop { handle } }"}, headers=access)
    ).status_code == 401
    refreshed = await http.post(
        "/oauth/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
    )
    assert refreshed.status_code in (400, 401)


async def test_installs_use_the_endpoints_of_their_assigned_version(
    world: World, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    _, merchant, installation = await _installed(world, http, gql)
    async with world.services.db.writer() as session, session.begin():
        row = await session.get(Installation, int(_pk(installation)))
        assert row is not None
        await create_version(
            session,
            row.app_id,
            "1.0.0",
            "",
            {"app_url": "https://v1.example", "webhook_url": "https://v1.example/hooks"},
        )
        canary = await create_version(
            session,
            row.app_id,
            "1.1.0",
            "",
            {"app_url": "https://v2.example", "webhook_url": "https://v2.example/hooks"},
        )
        bucket = row.bucket

    async def endpoint() -> str:
        listed = (await gql(INSTALLATIONS, shop=world.handle, token=merchant)).ok()["installations"]
        return str(listed[0]["version"]["manifest"]["webhookUrl"])

    assert await endpoint() == "https://v1.example/hooks"
    for percent, expected in (
        (bucket, "https://v1.example/hooks"),
        (bucket + 1, "https://v2.example/hooks"),
    ):
        async with world.services.db.writer() as session, session.begin():
            await set_rollout(session, canary.id, percent)
        assert await endpoint() == expected


def _pk(global_id: str) -> int:
    parsed = parse_id(global_id)
    assert parsed is not None
    return parsed[1]
