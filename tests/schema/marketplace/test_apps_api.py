"""Apps through HTTP, as a partner's developers use them: credentials and their grace period,
the sandbox, versions and the canary rollout."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import select

from app.identity.models import Shop
from marketplace.app_models import Installation, InstallationStatus
from marketplace.versions import assigned_version, bucket_of, create_version
from tests.support.clock import MutableClock
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.installing import app_token
from tests.support.marketplace import make_app, make_partner, member

pytestmark = pytest.mark.anyio

ROTATE = "mutation($a: ID!) { appCredentialsRotate(appId: $a) { clientSecret previousSecretValidUntil errors { code } } }"
SANDBOX = "mutation($a: ID!) { appSandboxTokenCreate(appId: $a) { accessToken shopHandle errors { code } } }"
VERSION = "mutation($a: ID!, $v: String!, $m: ManifestInput!) { appVersionCreate(appId: $a, version: $v, manifest: $m) { version { id version rolloutPercent } errors { field code } } }"
ROLLOUT = "mutation($v: ID!, $p: Int!) { appVersionRollout(versionId: $v, percent: $p) { version { rolloutPercent } errors { field code } } }"
CREATE = (
    "mutation($i: AppCreateInput!) { appCreate(input: $i) { clientSecret errors { field code } } }"
)


async def _client_credentials(http: httpx.AsyncClient, client_id: str, secret: str) -> int:
    response = await http.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
    )
    return response.status_code


async def test_the_old_secret_works_for_the_grace_period_only(
    world: World, http: httpx.AsyncClient, gql: GraphQLClient, clock: MutableClock
) -> None:
    partner, _ = await make_partner(world)
    app, credentials = await make_app(world, partner)
    _, developer = await member(world, partner, "developer")

    rotated = (await gql(ROTATE, {"a": gid("App", app.id)}, token=developer)).ok()
    new_secret = rotated["appCredentialsRotate"]["clientSecret"]
    assert new_secret and new_secret != credentials.client_secret

    assert await _client_credentials(http, credentials.client_id, new_secret) == 200
    assert await _client_credentials(http, credentials.client_id, credentials.client_secret) == 200
    clock.advance(world.services.marketplace.credential_grace.total_seconds() + 1)
    assert await _client_credentials(http, credentials.client_id, credentials.client_secret) == 401
    assert await _client_credentials(http, credentials.client_id, new_secret) == 200


async def test_a_sandbox_token_reaches_the_sandbox_and_nothing_else(
    world: World, gql: GraphQLClient
) -> None:
    partner, _ = await make_partner(world)
    app, _ = await make_app(world, partner)
    _, developer = await member(world, partner, "developer")
    made = (await gql(SANDBOX, {"a": gid("App", app.id)}, token=developer)).ok()
    token, handle = (
        made["appSandboxTokenCreate"]["accessToken"],
        made["appSandboxTokenCreate"]["shopHandle"],
    )
    async with world.services.db.reader() as session:
        sandbox = await session.scalar(select(Shop).where(Shop.handle == handle))
    assert sandbox is not None and sandbox.id == app.sandbox_shop_id

    own = (
        await gql("{ shop { handle } products(first: 50) { nodes { title } } }", token=token)
    ).ok()
    assert own["shop"]["handle"] == handle and len(own["products"]["nodes"]) == 12

    await world.product("Real merchandise")
    elsewhere = await gql(
        "{ products(first: 5) { nodes { title } } }", token=token, shop=world.handle
    )
    assert elsewhere.codes == ["FORBIDDEN"]
    assert elsewhere.data is None or elsewhere.data.get("products") is None


async def test_versions_are_semver_and_go_up(world: World, gql: GraphQLClient) -> None:
    partner, _ = await make_partner(world)
    app, _ = await make_app(world, partner)
    _, developer = await member(world, partner, "developer")
    manifest = {"appUrl": "https://app.example"}

    def create(version: str) -> object:
        return gql(VERSION, {"a": gid("App", app.id), "v": version, "m": manifest}, token=developer)

    first = (await create("1.0.0")).ok()["appVersionCreate"]
    assert first["version"]["rolloutPercent"] == 100  # the first version is current at once
    for wrong in ("1.0", "v1.1.0", "01.1.0", "1.0.0", "0.9.9"):
        refused = (await create(wrong)).ok()["appVersionCreate"]
        assert refused["errors"] == [{"field": ["version"], "code": "INVALID_VERSION"}], wrong
    bad_manifest = (
        await gql(
            VERSION,
            {"a": gid("App", app.id), "v": "1.1.0", "m": {"appUrl": "http://plain.example"}},
            token=developer,
        )
    ).ok()["appVersionCreate"]
    assert bad_manifest["errors"] == [{"field": ["manifest", "appUrl"], "code": "INVALID"}]
    second = (await create("1.1.0-rc.1")).ok()["appVersionCreate"]
    assert second["version"]["rolloutPercent"] == 0

    for percent in (-1, 101):
        refused = (
            await gql(ROLLOUT, {"v": second["version"]["id"], "p": percent}, token=developer)
        ).ok()["appVersionRollout"]
        assert refused["errors"] == [{"field": ["percent"], "code": "INVALID_ROLLOUT"}]


async def test_canary_assignment_is_stable_and_never_moves_back(
    world: World, gql: GraphQLClient
) -> None:
    partner, _ = await make_partner(world)
    app, _ = await make_app(world, partner)
    _, developer = await member(world, partner, "developer")
    async with world.services.db.writer() as session, session.begin():
        await create_version(session, app.id, "1.0.0", "", {"app_url": "https://v1.example"})
        canary = await create_version(
            session, app.id, "2.0.0", "", {"app_url": "https://v2.example"}
        )
        installs = []
        for _ in range(60):
            row = Installation(
                app_id=app.id, shop_id=world.shop.id, status=InstallationStatus.ACTIVE
            )
            session.add(row)
            await session.flush()
            row.bucket = bucket_of(row.id)
            installs.append(row)

    async def on_canary() -> set[int]:
        async with world.services.db.reader() as session:
            return {
                row.id
                for row in installs
                if (found := await assigned_version(session, row)) is not None
                and found.version == "2.0.0"
            }

    previous: set[int] = set()
    for percent in (0, 10, 35, 35, 70, 100):
        (
            await gql(ROLLOUT, {"v": gid("AppVersion", canary.id), "p": percent}, token=developer)
        ).ok()
        now = await on_canary()
        assert previous <= now, "raising the percent moved an installation back"
        assert now == await on_canary(), "the same percent gave another assignment"
        assert now == {row.id for row in installs if row.bucket < percent}
        previous = now
    assert len(previous) == 60


async def test_the_tier_refuses_core_scopes_and_counts_apps(
    world: World, gql: GraphQLClient
) -> None:
    partner, owner = await make_partner(world)

    def create(scopes: list[str]) -> object:
        return gql(
            CREATE,
            {
                "i": {
                    "partnerId": gid("Partner", partner),
                    "name": "App",
                    "redirectUris": ["https://a.example/cb"],
                    "scopes": scopes,
                }
            },
            token=owner,
        )

    core = (await create(["goods:read", "extensions:recommendations"])).ok()["appCreate"]
    assert core["errors"] == [{"field": ["scopes", "1"], "code": "SCOPE_NOT_ALLOWED"}]
    for _ in range(3):
        assert (await create(["goods:read"])).ok()["appCreate"]["errors"] == []
    over = (await create(["goods:read"])).ok()["appCreate"]
    assert over == {
        "clientSecret": None,
        "errors": [{"field": ["partnerId"], "code": "MAX_APPS_REACHED"}],
    }


async def test_client_credentials_reach_public_data_only(
    world: World, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    """An app acting as itself (no install) holds no role in any shop."""
    partner, _ = await make_partner(world)
    _, credentials = await make_app(world, partner, scopes=("goods:write",))
    token = await app_token(http, credentials)
    refused = await gql(
        'mutation { productCreate(input: {title: "X"}) { errors { code } } }',
        token=token,
        shop=world.handle,
    )
    assert refused.codes == ["FORBIDDEN"]
