"""The HTTP edge: status codes, limits, negotiation, masking of crashes, health."""

from __future__ import annotations

import logging

import httpx
import pytest

from app.goods import queries
from tests.support.factories import World
from tests.support.graphql import GraphQLClient

pytestmark = pytest.mark.anyio


async def test_malformed_json_is_a_400_with_a_message(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql", content=b'{"query": ', headers={"content-type": "application/json"}
    )
    assert response.status_code == 400
    assert "JSON" in response.text


@pytest.mark.parametrize(
    ("body", "content_type"),
    [
        (b'{"variables": {}}', "application/json"),
        (b"hello", "text/plain"),
        (b"[1, 2]", "application/json"),
    ],
)
async def test_a_body_that_is_not_a_graphql_request_is_a_400(
    http: httpx.AsyncClient, body: bytes, content_type: str
) -> None:
    response = await http.post("/graphql", content=body, headers={"content-type": content_type})
    assert response.status_code == 400
    assert response.text.strip()


async def test_a_body_over_the_limit_is_a_413(http: httpx.AsyncClient, settings: object) -> None:
    limit = settings.max_body_bytes  # type: ignore[attr-defined]
    padding = "x" * (limit + 1)
    response = await http.post(
        "/graphql", json={"query": "{ __typename }", "variables": {"pad": padding}}
    )
    assert response.status_code == 413
    assert response.json()["errors"][0]["extensions"]["code"] == "PAYLOAD_TOO_LARGE"


async def test_a_streamed_body_over_the_limit_is_a_413(
    http: httpx.AsyncClient, settings: object
) -> None:
    limit = settings.max_body_bytes  # type: ignore[attr-defined]

    async def chunks():  # no Content-Length: the limit must hold while reading
        for _ in range(limit // 1024 + 2):
            yield b" " * 1024

    response = await http.post(
        "/graphql", content=chunks(), headers={"content-type": "application/json"}
    )
    assert response.status_code == 413


async def test_a_query_over_the_token_limit_is_refused_with_a_code(
    world: World, gql: GraphQLClient
) -> None:
    fields = " ".join("__typename" for _ in range(2100))
    result = await gql(f"{{ {fields} }}", shop=world.handle)
    assert result.codes == ["MAX_TOKENS_EXCEEDED"]
    assert result.data is None


async def test_too_deep_and_too_many_aliases_are_refused(world: World, gql: GraphQLClient) -> None:
    deep = "{ categories " + "{ children " * 11 + "{ name }" + " }" * 11 + " }"
    assert (await gql(deep, shop=world.handle)).codes == ["MAX_DEPTH_EXCEEDED"]
    aliases = " ".join(f"a{i}: __typename" for i in range(31))
    assert (await gql(f"{{ {aliases} }}", shop=world.handle)).codes == ["MAX_ALIASES_EXCEEDED"]


async def test_syntax_and_validation_errors_carry_codes(world: World, gql: GraphQLClient) -> None:
    assert (await gql("{ products(first: ", shop=world.handle)).codes == ["GRAPHQL_PARSE_FAILED"]
    assert (await gql("{ noSuchField }", shop=world.handle)).codes == ["GRAPHQL_VALIDATION_FAILED"]


async def test_an_unacceptable_accept_header_is_a_406(http: httpx.AsyncClient) -> None:
    response = await http.post(
        "/graphql", json={"query": "{ __typename }"}, headers={"accept": "text/csv"}
    )
    assert response.status_code == 406
    ok = await http.post(
        "/graphql",
        json={"query": "{ __typename }"},
        headers={"accept": "application/graphql-response+json"},
    )
    assert ok.status_code == 200


async def test_an_unexpected_failure_is_masked_and_logged_with_the_request_id(
    world: World,
    gql: GraphQLClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def explode(*_: object) -> None:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr(queries, "root_categories", explode)
    with caplog.at_level(logging.ERROR, logger="agora"):
        logging.getLogger("agora").propagate = True
        try:
            result = await gql(
                "{ categories { name } }",
                shop=world.handle,
                headers={"x-request-id": "req-12345678"},
            )
        finally:
            logging.getLogger("agora").propagate = False
    assert result.status == 200
    [error] = result.errors
    assert error["message"] == "Internal server error."
    assert error["extensions"] == {"code": "INTERNAL", "requestId": "req-12345678"}
    assert "hunter2" not in str(result.body)
    logged = [r for r in caplog.records if getattr(r, "request_id", None) == "req-12345678"]
    assert logged and logged[0].exc_info is not None


async def test_every_response_names_its_request_id(http: httpx.AsyncClient) -> None:
    response = await http.get("/healthz")
    assert len(response.headers["x-request-id"]) == 32
    given = await http.get("/healthz", headers={"x-request-id": "trace-abcdef12"})
    assert given.headers["x-request-id"] == "trace-abcdef12"


async def test_a_request_without_a_shop_is_asked_for_one_when_several_exist(
    world: World, other_world: World, gql: GraphQLClient
) -> None:
    assert world.handle != other_world.handle
    assert (await gql("{ shop { handle } }")).codes == ["SHOP_REQUIRED"]


async def test_health_and_readiness(http: httpx.AsyncClient) -> None:
    assert (await http.get("/healthz")).json() == {"status": "ok"}
    ready = await http.get("/readyz")
    assert ready.status_code == 200
    assert ready.json()["database"] == "ok"


@pytest.mark.redis
async def test_readiness_checks_redis_when_configured(http: httpx.AsyncClient) -> None:
    assert (await http.get("/readyz")).json()["redis"] == "ok"


async def test_cors_allows_configured_origins_only(http: httpx.AsyncClient) -> None:
    preflight = {
        "access-control-request-method": "POST",
        "access-control-request-headers": "content-type",
    }
    allowed = await http.options(
        "/graphql", headers={"origin": "https://shop.example", **preflight}
    )
    assert allowed.headers["access-control-allow-origin"] == "https://shop.example"
    refused = await http.options(
        "/graphql", headers={"origin": "https://evil.example", **preflight}
    )
    assert "access-control-allow-origin" not in refused.headers


async def test_graphiql_is_served_in_dev_with_an_example_query(http: httpx.AsyncClient) -> None:
    page = await http.get("/graphql", headers={"accept": "text/html"})
    assert page.status_code == 200
    assert "graphiql" in page.text.lower()
    assert "FirstProducts" in page.text


async def test_nested_fragment_spreads_are_measured_once_each(
    world: World, gql: GraphQLClient
) -> None:
    """2^40 aliased fields through doubling fragments: counted, and refused, in linear work."""
    fragments = "".join(
        f"fragment F{i} on Query {{ ...F{i + 1} ...F{i + 1} }}\n" for i in range(40)
    )
    query = "query { ...F0 }\n" + fragments + "fragment F40 on Query { a: __typename }"
    result = await gql(query, shop=world.handle)
    assert result.codes == ["MAX_ALIASES_EXCEEDED"]
    assert result.errors[0]["message"] == f"{2**40} aliases found. Allowed: 30"
