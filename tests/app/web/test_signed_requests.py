"""Signed open-API calls through HTTP, as a partner's server sends them: a registered client,
its signing secret, and the four X-Agora-* headers."""

from __future__ import annotations

import json
import os
import shlex
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from redis.asyncio import Redis
from starlette.applications import Starlette
from starlette.types import ASGIApp, Receive, Scope, Send
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.main import create_app
from app.security.clients import (
    ClientStatus,
    IssuedCredentials,
    client_by_id,
    register_client,
    rotate_signing_secret,
)
from app.security.signing import HEADER_NONCE, sign_request
from app.web.middleware import Authentication
from tests.support.clock import MutableClock
from tests.support.factories import World

pytestmark = pytest.mark.anyio

ME_AND_SHOP = "{ me { id } shop { handle } }"
PRODUCT_CREATE = (
    'mutation { productCreate(input: {title: "Signed", status: ACTIVE}) '
    "{ product { id } errors { code } } }"
)


@pytest.fixture
async def app_client(app: Starlette) -> IssuedCredentials:
    services = app.state.services
    async with services.db.writer() as session, session.begin():
        return await register_client(
            session, services.cipher, name="Signing app", scopes=["goods:read", "goods:write"]
        )


def graphql_body(query: str) -> bytes:
    return orjson.dumps({"query": query, "variables": {}})


def signed_headers(
    credentials: IssuedCredentials,
    body: bytes,
    *,
    secret: str | None = None,
    method: str = "POST",
    path: str = "/graphql",
    query: str = "",
    timestamp: int | None = None,
    nonce: str | None = None,
) -> dict[str, str]:
    return sign_request(
        key=credentials.client_id,
        secret=secret or credentials.signing_secret,
        method=method,
        path=path,
        query=query,
        body=body,
        timestamp=timestamp,
        nonce=nonce,
    )


async def post(
    http: httpx.AsyncClient,
    headers: dict[str, str],
    body: bytes,
    *,
    url: str = "/graphql",
    shop: str | None = None,
) -> httpx.Response:
    sent = {**headers, "content-type": "application/json"}
    if shop is not None:
        sent["x-agora-shop"] = shop
    return await http.post(url, content=body, headers=sent)


def code_of(response: httpx.Response) -> str:
    assert response.status_code == 401, response.text
    [error] = response.json()["errors"]
    assert error["message"]
    return error["extensions"]["code"]


async def test_a_signed_call_reaches_graphql_as_the_app(
    http: httpx.AsyncClient, world: World, app_client: IssuedCredentials
) -> None:
    body = graphql_body(ME_AND_SHOP)
    response = await post(http, signed_headers(app_client, body), body, shop=world.handle)
    assert response.status_code == 200, response.text
    assert response.json()["data"] == {"me": None, "shop": {"handle": world.handle}}

    # Apps hold no roles yet, so writing the catalog is refused like any caller without one.
    body = graphql_body(PRODUCT_CREATE)
    refused = await post(http, signed_headers(app_client, body), body, shop=world.handle)
    assert refused.status_code == 200
    assert [e["extensions"]["code"] for e in refused.json()["errors"]] == ["FORBIDDEN"]


class Echo:
    """The app behind Authentication: answers with what it was handed."""

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        message = await receive()
        principal = scope["state"]["principal"]
        answer = orjson.dumps(
            {
                "subject": principal.subject,
                "token_id": principal.token_id,
                "scope": sorted(principal.scope),
                "body": message["body"].decode(),
                "more_body": message.get("more_body", False),
            }
        )
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": answer})


def wired_authentication(app: Starlette) -> Authentication:
    layer: ASGIApp | None = app.middleware_stack
    while layer is not None and not isinstance(layer, Authentication):
        layer = getattr(layer, "app", None)
    assert layer is not None, "Authentication is not in the app's middleware"
    return layer


async def test_the_principal_is_the_client_and_the_body_reaches_the_app_unchanged(
    app: Starlette, http: httpx.AsyncClient, app_client: IssuedCredentials
) -> None:
    await http.get("/healthz")  # builds the middleware stack
    wired = wired_authentication(app)
    echo = Authentication(Echo(), tokens=wired.tokens, signatures=wired.signatures)
    body = b'{"query": "{ shop { name } }",  "odd spacing": "\xc3\xa9"}'
    headers = signed_headers(app_client, body)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=echo), base_url="http://testserver"
    ) as client:
        seen = (await client.post("/graphql", content=body, headers=headers)).json()
    assert seen == {
        "subject": f"app:{app_client.client_id}",
        "token_id": headers[HEADER_NONCE],
        "scope": ["goods:read", "goods:write"],
        "body": body.decode(),
        "more_body": False,
    }


async def test_a_streamed_body_is_verified_whole(
    http: httpx.AsyncClient, world: World, app_client: IssuedCredentials
) -> None:
    body = graphql_body(ME_AND_SHOP)

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(body), 7):
            yield body[start : start + 7]

    headers = {
        **signed_headers(app_client, body),
        "x-agora-shop": world.handle,
        "content-type": "application/json",
    }
    response = await http.post("/graphql", content=chunks(), headers=headers)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    ("offset", "accepted"), [(299, True), (-299, True), (301, False), (-301, False)]
)
async def test_the_timestamp_may_be_300_seconds_off_either_way(
    http: httpx.AsyncClient,
    world: World,
    app_client: IssuedCredentials,
    clock: MutableClock,
    offset: int,
    accepted: bool,
) -> None:
    body = graphql_body(ME_AND_SHOP)
    headers = signed_headers(app_client, body, timestamp=int(clock().timestamp()))
    clock.advance(offset)  # the server's clock: ahead means the request is old
    response = await post(http, headers, body, shop=world.handle)
    if accepted:
        assert response.status_code == 200, response.text
    else:
        assert code_of(response) == "SIGNATURE_EXPIRED"


async def test_a_replayed_nonce_is_refused(
    http: httpx.AsyncClient, world: World, app_client: IssuedCredentials
) -> None:
    body = graphql_body(ME_AND_SHOP)
    headers = signed_headers(app_client, body)
    assert (await post(http, headers, body, shop=world.handle)).status_code == 200
    assert code_of(await post(http, headers, body, shop=world.handle)) == "SIGNATURE_REPLAYED"


@pytest.fixture
async def second_instance(
    settings: Settings, clock: MutableClock
) -> AsyncIterator[httpx.AsyncClient]:
    """Another worker: its own app, Redis connection and process state; the same database and
    Redis prefix."""
    other = create_app(settings, clock=clock)
    async with (
        other.router.lifespan_context(other),
        httpx.AsyncClient(
            transport=httpx.ASGITransport(app=other), base_url="http://testserver"
        ) as client,
    ):
        yield client


@pytest.mark.redis
async def test_a_nonce_used_on_one_instance_is_refused_on_another(
    http: httpx.AsyncClient,
    second_instance: httpx.AsyncClient,
    world: World,
    app_client: IssuedCredentials,
    settings: Settings,
) -> None:
    body = graphql_body(ME_AND_SHOP)
    headers = signed_headers(app_client, body)
    assert (await post(http, headers, body, shop=world.handle)).status_code == 200
    replayed = await post(second_instance, headers, body, shop=world.handle)
    assert code_of(replayed) == "SIGNATURE_REPLAYED"

    redis = Redis.from_url(os.environ["AGORA_REDIS_URL"])
    try:
        remembered = f"{settings.redis_prefix}signing:nonce:{app_client.client_id}:"
        assert 600 <= await redis.ttl(remembered + headers[HEADER_NONCE]) <= 601
    finally:
        await redis.aclose()


async def test_reordered_query_parameters_still_verify(
    http: httpx.AsyncClient, world: World, app_client: IssuedCredentials
) -> None:
    body = graphql_body(ME_AND_SHOP)
    headers = signed_headers(app_client, body, query="a=1&b=%7Ex&c=caf%C3%A9")
    url = "/graphql?c=caf%c3%a9&b=~x&a=1"
    response = await post(http, headers, body, url=url, shop=world.handle)
    assert response.status_code == 200, response.text


@pytest.mark.parametrize(
    "tamper",
    [
        pytest.param({"body": graphql_body("{ me { id } shop { handlE } }")}, id="body"),
        pytest.param({"url": "/graphql/"}, id="path"),
        pytest.param({"method": "PUT"}, id="method"),
        pytest.param({"url": "/graphql?a=2"}, id="parameter"),
        pytest.param({"url": "/graphql?a=1&a=1"}, id="added-parameter"),
    ],
)
async def test_a_changed_byte_of_the_request_fails(
    http: httpx.AsyncClient, world: World, app_client: IssuedCredentials, tamper: dict[str, Any]
) -> None:
    body = graphql_body(ME_AND_SHOP)
    headers = signed_headers(app_client, body, query="a=1")
    sent = {**headers, "content-type": "application/json", "x-agora-shop": world.handle}
    response = await http.request(
        tamper.get("method", "POST"),
        tamper.get("url", "/graphql?a=1"),
        content=tamper.get("body", body),
        headers=sent,
    )
    assert code_of(response) == "SIGNATURE_INVALID"
    # The refusal spent nothing: the untouched request still goes through with the same nonce.
    intact = await post(http, headers, body, url="/graphql?a=1", shop=world.handle)
    assert intact.status_code == 200, intact.text


async def test_an_unknown_key_is_refused(http: httpx.AsyncClient) -> None:
    body = graphql_body(ME_AND_SHOP)
    headers = sign_request(
        key="agc_nobody", secret="whatever", method="POST", path="/graphql", body=body
    )
    assert code_of(await post(http, headers, body)) == "SIGNATURE_KEY_UNKNOWN"


async def test_a_suspended_client_is_refused(
    app: Starlette, http: httpx.AsyncClient, world: World, app_client: IssuedCredentials
) -> None:
    body = graphql_body(ME_AND_SHOP)
    async with app.state.services.db.writer() as session, session.begin():
        client = await client_by_id(session, app_client.client_id)
        assert client is not None
        client.status = ClientStatus.SUSPENDED
    response = await post(http, signed_headers(app_client, body), body, shop=world.handle)
    assert code_of(response) == "SIGNATURE_KEY_SUSPENDED"


async def test_during_a_rotation_old_and_new_secrets_verify(
    app: Starlette, http: httpx.AsyncClient, world: World, app_client: IssuedCredentials
) -> None:
    services = app.state.services
    async with services.db.writer() as session, session.begin():
        client = await client_by_id(session, app_client.client_id)
        assert client is not None
        fresh = await rotate_signing_secret(session, services.cipher, client)
    body = graphql_body(ME_AND_SHOP)
    for secret in (fresh, app_client.signing_secret):
        response = await post(http, signed_headers(app_client, body, secret=secret), body)
        assert response.status_code == 200, response.text
    stranger = signed_headers(app_client, body, secret="not-one-of-them")
    assert code_of(await post(http, stranger, body)) == "SIGNATURE_INVALID"


async def test_a_partial_set_of_signing_headers_is_refused_not_anonymous(
    http: httpx.AsyncClient, app_client: IssuedCredentials
) -> None:
    body = graphql_body(ME_AND_SHOP)
    response = await post(http, {"X-Agora-Key": app_client.client_id}, body)
    assert code_of(response) == "SIGNATURE_MISSING"
    assert response.headers["content-type"] == "application/json"


async def test_a_bearer_token_takes_precedence_over_signing_headers(
    app: Starlette, http: httpx.AsyncClient, world: World, app_client: IssuedCredentials
) -> None:
    token = app.state.services.tokens.issue("user:424242")
    body = graphql_body(ME_AND_SHOP)
    headers = {
        **signed_headers(app_client, b"signed for another body"),
        "authorization": f"Bearer {token}",
    }
    # A checked signature would be SIGNATURE_INVALID: the token is what authenticates.
    response = await post(http, headers, body, shop=world.handle)
    assert response.status_code == 200, response.text
    assert response.json()["data"]["shop"] == {"handle": world.handle}


async def test_an_oversized_signed_body_is_a_413_not_a_401(
    http: httpx.AsyncClient, settings: Settings, app_client: IssuedCredentials
) -> None:
    body = b" " * (settings.max_body_bytes + 1)

    async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: caught while reading
        yield body

    headers = signed_headers(app_client, body)
    response = await http.post("/graphql", content=chunks(), headers=headers)
    assert response.status_code == 413


async def test_agora_sign_prints_headers_the_server_accepts(
    http: httpx.AsyncClient, world: World, app_client: IssuedCredentials
) -> None:
    body = graphql_body(ME_AND_SHOP)
    printed = CliRunner().invoke(
        cli,
        [
            "sign",
            "--key",
            app_client.client_id,
            "--url",
            "/graphql?b=2&a=1",
            "--data",
            body.decode(),
        ],
        input=f"{app_client.signing_secret}\n",
    )
    assert printed.exit_code == 0, printed.output
    headers = dict(
        line.split(": ", 1) for line in printed.stdout.splitlines() if line.startswith("X-Agora-")
    )
    assert sorted(headers) == [
        "X-Agora-Key", "X-Agora-Nonce", "X-Agora-Signature", "X-Agora-Timestamp",
    ]  # fmt: skip
    response = await post(http, headers, body, url="/graphql?a=1&b=2", shop=world.handle)
    assert response.status_code == 200, response.text


async def test_agora_sign_writes_a_curl_command_for_a_file_body(
    tmp_path: Any, http: httpx.AsyncClient, world: World, app_client: IssuedCredentials
) -> None:
    query_file = tmp_path / "query.json"
    query_file.write_bytes(graphql_body(ME_AND_SHOP))
    printed = CliRunner().invoke(
        cli,
        [
            "sign",
            "--key", app_client.client_id,
            "--secret", app_client.signing_secret,
            "--url", "http://testserver/graphql",
            "--data", f"@{query_file}",
            "--curl",
        ],
    )  # fmt: skip
    assert printed.exit_code == 0, printed.output
    words = shlex.split(printed.stdout)
    assert words[:5] == ["curl", "-sS", "-X", "POST", "http://testserver/graphql"]
    assert words[-2:] == ["--data-binary", f"@{query_file}"]
    headers = dict(w.split(": ", 1) for w in words[words.index("-H") + 1 :: 2] if ": " in w)
    assert {"X-Agora-Key", "X-Agora-Nonce", "X-Agora-Signature"} < set(headers)
    response = await post(http, headers, query_file.read_bytes(), shop=world.handle)
    assert response.status_code == 200, response.text
    assert json.loads(response.text)["data"]["shop"] == {"handle": world.handle}
    assert abs(int(headers["X-Agora-Timestamp"]) - time.time()) < 60
