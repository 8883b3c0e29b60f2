"""The API as production serves it, over HTTP: no GraphiQL at /graphql (the sandbox page
instead), introspection only with a sandbox token, no field suggestions, and trusted
documents: first-party traffic runs registered documents only, partner apps anything within
their cost limits. Responses are encoded by orjson."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from starlette.applications import Starlette

from app.config import Settings
from app.main import create_app
from app.production import provision_keys
from app.security.trusted_documents import document_hash, register_documents
from schema.view import AgoraGraphQL
from tests.support.factories import World
from tests.support.graphql import GraphQLClient
from tests.support.graphql_ws import GraphQLWSClient, ws_url
from tests.support.marketplace import make_app, make_partner
from tests.support.served import serve_app

pytestmark = pytest.mark.anyio

INTROSPECTION = "{ __schema { queryType { name } } }"
EXPENSIVE = "{ products(first: 100) { nodes { category { parent { name } } } } }"  # 202


@pytest.fixture(scope="module")
async def prod(
    settings: Settings, migrated: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Starlette]:
    keys = provision_keys(tmp_path_factory.mktemp("prod-keys"))
    configured = settings.model_copy(
        update={
            "environment": "prod",
            "require_trusted_documents": True,
            "max_query_cost": 150,
            "jwt_private_key_path": keys["AGORA_JWT_PRIVATE_KEY_PATH"],
            "secret_key_path": keys["AGORA_SECRET_KEY_PATH"],
            "data_keyring_path": keys["AGORA_DATA_KEYRING_PATH"],
            "redis_prefix": f"{settings.redis_prefix}prod:",
        }
    )
    application = create_app(configured)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def api(prod: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app=prod)
    async with httpx.AsyncClient(transport=transport, base_url="http://prod") as client:
        yield client


async def _post(
    api: httpx.AsyncClient,
    body: dict[str, Any],
    *,
    shop: str,
    token: str | None = None,
) -> tuple[int, dict[str, Any]]:
    headers = {"x-agora-shop": shop}
    if token is not None:
        headers["authorization"] = f"Bearer {token}"
    response = await api.post("/graphql", json=body, headers=headers)
    return response.status_code, response.json()


def _codes(payload: dict[str, Any]) -> list[str]:
    return [e.get("extensions", {}).get("code") for e in payload.get("errors", [])]


async def _register(prod: Starlette, text: str) -> str:
    async with prod.state.services.db.writer() as session, session.begin():
        (registered,) = await register_documents(session, "storefront", [text])
    return registered.document_id


async def _app_tokens(world: World, prod: Starlette) -> tuple[str, str]:
    """A partner app's token (no shop) and its sandbox token, signed by the prod app."""
    partner_id, _ = await make_partner(world)
    app, _ = await make_app(world, partner_id)
    tokens = prod.state.services.tokens
    plain = tokens.issue(f"app:{app.client_id}", scope="goods:read")
    sandbox = tokens.issue(
        f"app:{app.client_id}", scope="goods:read", extra={"shop": app.sandbox_shop_id}
    )
    return plain, sandbox


async def test_graphiql_is_off_at_graphql_in_prod_and_on_in_dev(
    api: httpx.AsyncClient, http: httpx.AsyncClient
) -> None:
    refused = await api.get("/graphql", headers={"accept": "text/html"})
    assert refused.status_code == 404
    assert "graphiql" not in refused.text.lower()
    served = await http.get("/graphql", headers={"accept": "text/html"})
    assert served.status_code == 200
    assert "graphiql" in served.text.lower()


async def test_the_sandbox_graphiql_page_queries_graphql_with_a_token(
    api: httpx.AsyncClient,
) -> None:
    page = await api.get("/sandbox/graphiql")
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    assert 'new URL("/graphql", location)' in page.text
    assert "appSandboxTokenCreate" in page.text


async def test_introspection_only_with_a_sandbox_token(
    api: httpx.AsyncClient, prod: Starlette, world: World
) -> None:
    plain, sandbox = await _app_tokens(world, prod)
    status, payload = await _post(api, {"query": INTROSPECTION}, shop=world.handle, token=plain)
    assert (status, _codes(payload)) == (200, ["INTROSPECTION_DISABLED"])
    status, payload = await _post(api, {"query": INTROSPECTION}, shop="", token=sandbox)
    assert payload == {**payload, "data": {"__schema": {"queryType": {"name": "Query"}}}}
    # Registered or not, first-party traffic gets no schema either.
    document_id = await _register(prod, INTROSPECTION)
    _, payload = await _post(api, {"documentId": document_id}, shop=world.handle)
    assert _codes(payload) == ["INTROSPECTION_DISABLED"]
    _, payload = await _post(api, {"query": "{ __typename }"}, shop=world.handle, token=plain)
    assert payload["data"] == {"__typename": "Query"}


async def test_no_field_suggestions_in_prod(
    api: httpx.AsyncClient, prod: Starlette, world: World, gql: GraphQLClient
) -> None:
    plain, _ = await _app_tokens(world, prod)
    _, payload = await _post(api, {"query": "{ shop { nam } }"}, shop=world.handle, token=plain)
    assert _codes(payload) == ["GRAPHQL_VALIDATION_FAILED"]
    assert "Did you mean" not in payload["errors"][0]["message"]
    dev = await gql("{ shop { nam } }", shop=world.handle)
    assert "Did you mean" in dev.errors[0]["message"]


async def test_first_party_traffic_runs_registered_documents_only(
    api: httpx.AsyncClient, prod: Starlette, world: World
) -> None:
    text = f"# storefront {uuid.uuid4().hex}\nquery Cheapest {{ products(first: 2) {{ nodes {{ title }} }} }}"
    document_id = await _register(prod, text)
    assert document_id == f"sha256:{document_hash(text)}"
    await world.product("Trusted Tote")

    status, by_id = await _post(api, {"documentId": document_id}, shop=world.handle)
    assert status == 200 and "errors" not in by_id
    assert by_id["data"]["products"]["nodes"]
    apollo = {"extensions": {"persistedQuery": {"version": 1, "sha256Hash": document_id[7:]}}}
    assert (await _post(api, apollo, shop=world.handle))[1]["data"] == by_id["data"]
    assert (await _post(api, {"query": text}, shop=world.handle))[1]["data"] == by_id["data"]

    ad_hoc = {"query": "{ products(first: 2) { nodes { title } } }"}
    status, refused = await _post(api, ad_hoc, shop=world.handle)
    assert (status, _codes(refused), refused.get("data")) == (403, ["DOCUMENT_NOT_TRUSTED"], None)
    user_id, _ = await world.user()
    user_token = prod.state.services.tokens.issue(f"user:{user_id}")
    status, refused = await _post(api, ad_hoc, shop=world.handle, token=user_token)
    assert (status, _codes(refused)) == (403, ["DOCUMENT_NOT_TRUSTED"])


async def test_unknown_or_malformed_document_ids_are_refused(
    api: httpx.AsyncClient, world: World
) -> None:
    unknown = f"sha256:{document_hash(uuid.uuid4().hex)}"
    status, payload = await _post(api, {"documentId": unknown}, shop=world.handle)
    assert (status, _codes(payload)) == (400, ["PERSISTED_QUERY_NOT_FOUND"])
    status, payload = await _post(api, {"documentId": "sha256:nothex"}, shop=world.handle)
    assert (status, _codes(payload)) == (400, ["BAD_REQUEST"])
    mismatched = {"documentId": unknown, "query": "{ __typename }"}
    status, payload = await _post(api, mismatched, shop=world.handle)
    assert (status, _codes(payload)) == (400, ["BAD_REQUEST"])


async def test_a_partner_app_runs_ad_hoc_queries_within_its_cost_limits(
    api: httpx.AsyncClient, prod: Starlette, world: World
) -> None:
    plain, _ = await _app_tokens(world, prod)
    query = {"query": "{ products(first: 2) { nodes { title } } }"}
    status, payload = await _post(api, query, shop=world.handle, token=plain)
    assert status == 200 and "errors" not in payload, payload
    assert payload["extensions"]["cost"]["requestedQueryCost"] == 2
    _, payload = await _post(api, {"query": EXPENSIVE}, shop=world.handle, token=plain)
    assert _codes(payload) == ["MAX_COST_EXCEEDED"]


async def test_responses_are_encoded_by_orjson(http: httpx.AsyncClient, world: World) -> None:
    _, token = await world.user("business")
    title = "Café Crème ☕ 東京"
    response = await http.post(
        "/graphql",
        json={
            "query": "mutation($t: String!) { productCreate(input: {title: $t}) "
            "{ product { title } errors { code } } }",
            "variables": {"t": title},
        },
        headers={"x-agora-shop": world.handle, "authorization": f"Bearer {token}"},
    )
    assert response.json()["data"]["productCreate"]["product"]["title"] == title
    assert title.encode() in response.content  # UTF-8 as it is: no \\u escapes
    assert b"\\u" not in response.content
    assert b'":' in response.content and b'": ' not in response.content  # compact, like orjson
    data = {"title": title, "n": [1, 2.5, None, True]}
    assert AgoraGraphQL.encode_json(None, data) == orjson.dumps(data)  # type: ignore[arg-type]


async def test_the_websocket_holds_to_trusted_documents_too(prod: Starlette, world: World) -> None:
    # Given a prod app served on 127.0.0.1, a registered document and a partner app's token
    registered = await _register(prod, "query WsShop { shop { name } }")
    plain_app_token, _ = await _app_tokens(world, prod)
    async with serve_app(prod) as base:
        # When an anonymous first-party client sends an ad-hoc document, then the registered
        # one by id, over graphql-transport-ws
        async with GraphQLWSClient.connect(ws_url(base)) as client:
            await client.init({"shop": world.handle})
            await client.subscribe("ad-hoc", "{ shop { handle } }")
            refused = await client.receive("ad-hoc")
            await client.send(
                {"id": "named", "type": "subscribe", "payload": {"documentId": registered}}
            )
            ran = await client.next_data("named")
        # ... and the partner app sends an ad-hoc one
        async with GraphQLWSClient.connect(ws_url(base)) as client:
            await client.init({"shop": world.handle, "authorization": f"Bearer {plain_app_token}"})
            await client.subscribe("app", "{ shop { handle } }")
            partner = await client.next_data("app")

    # Then the ad-hoc document is refused with its code, and the others run
    assert refused["type"] == "error"
    assert [e["extensions"]["code"] for e in refused["payload"]] == ["DOCUMENT_NOT_TRUSTED"]
    assert ran == {"shop": {"name": world.shop.name}}
    assert partner == {"shop": {"handle": world.handle}}
