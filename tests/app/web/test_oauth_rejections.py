"""Each rejection of the validation list, one test each, through HTTP."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from starlette.applications import Starlette

from app.config import Settings
from app.security.keys import load_or_create_signing_key
from app.security.oauth.server import CODE_TTL_SECONDS
from app.security.tokens import LEEWAY_SECONDS, TokenService
from tests.support.clock import MutableClock
from tests.support.factories import World
from tests.support.graphql import GraphQLClient
from tests.support.oauth import (
    REDIRECT_URI,
    Browser,
    authorize_params,
    make_client,
    pkce,
    redirect_query,
    token,
)

pytestmark = pytest.mark.anyio

ME = "{ __typename }"


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _claims(settings: Settings, **overrides: object) -> dict[str, object]:
    now = int(time.time())
    claims: dict[str, object] = {
        "iss": settings.public_url,
        "aud": settings.public_url,
        "sub": "app:agc_forged",
        "client_id": "agc_forged",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "jti": "forged-jti",
        "scope": "goods:write",
    }
    claims.update(overrides)
    return claims


def _unsigned(header: dict[str, object], claims: dict[str, object], key: bytes | None) -> str:
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if key is None:
        return f"{signing_input}."
    signature = hmac.new(key, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


async def _refused(gql: GraphQLClient, access: str) -> None:
    result = await gql(ME, token=access)
    assert result.status == 401
    assert result.codes == ["UNAUTHENTICATED"]


def _our_key(settings: Settings) -> ECKey:
    return load_or_create_signing_key(settings.resolved_jwt_private_key_path)


async def test_the_genuine_token_is_accepted(settings: Settings, gql: GraphQLClient) -> None:
    key = _our_key(settings)
    header = {"alg": "ES256", "kid": key.kid, "typ": "at+jwt"}
    genuine = jwt.encode(header, _claims(settings), key, algorithms=["ES256"])
    assert (await gql(ME, token=genuine)).status == 200


async def test_alg_none_is_refused(settings: Settings, gql: GraphQLClient) -> None:
    kid = _our_key(settings).kid
    await _refused(
        gql, _unsigned({"alg": "none", "kid": kid, "typ": "at+jwt"}, _claims(settings), None)
    )


async def test_hs256_signed_with_the_public_key_bytes_is_refused(
    settings: Settings, gql: GraphQLClient
) -> None:
    key = _our_key(settings)
    header = {"alg": "HS256", "kid": key.kid, "typ": "at+jwt"}
    public_jwk = json.dumps(key.as_dict(private=False)).encode()
    public_pem = key.as_pem(private=False)
    for secret in (public_jwk, public_pem):
        await _refused(gql, _unsigned(header, _claims(settings), secret))


async def test_an_unknown_kid_is_refused(settings: Settings, gql: GraphQLClient) -> None:
    stranger = ECKey.generate_key("P-256", auto_kid=True)
    header = {"alg": "ES256", "kid": stranger.kid, "typ": "at+jwt"}
    await _refused(gql, jwt.encode(header, _claims(settings), stranger, algorithms=["ES256"]))
    # A stranger's signature under our kid fails as a bad signature.
    ours = {**header, "kid": _our_key(settings).kid}
    await _refused(gql, jwt.encode(ours, _claims(settings), stranger, algorithms=["ES256"]))


async def test_a_wrong_issuer_is_refused(settings: Settings, gql: GraphQLClient) -> None:
    key = _our_key(settings)
    other = TokenService(
        key, issuer="https://evil.example", audience=settings.public_url, ttl_seconds=600
    )
    await _refused(gql, other.issue("app:agc_forged"))


async def test_a_wrong_audience_is_refused(settings: Settings, gql: GraphQLClient) -> None:
    key = _our_key(settings)
    other = TokenService(
        key, issuer=settings.public_url, audience="https://other.example", ttl_seconds=600
    )
    await _refused(gql, other.issue("app:agc_forged"))


async def test_expiry_allows_the_leeway_and_no_more(
    app: Starlette, http: httpx.AsyncClient, gql: GraphQLClient, clock: MutableClock
) -> None:
    assert LEEWAY_SECONDS <= 60
    creds = await make_client(app, ["goods:read"], grants=("client_credentials",))
    body = (await token(http, creds, grant_type="client_credentials")).json()
    clock.advance(body["expires_in"] + LEEWAY_SECONDS - 5)
    assert (await gql(ME, token=body["access_token"])).status == 200
    clock.advance(10)
    await _refused(gql, body["access_token"])


@pytest.mark.parametrize(
    "overrides",
    [
        {"code_challenge_method": "plain"},
        {"code_challenge_method": ""},
        {"code_challenge": "", "code_challenge_method": ""},
    ],
    ids=["plain", "method-missing-means-plain", "no-pkce"],
)
async def test_pkce_is_s256_only_and_required(
    app: Starlette, http: httpx.AsyncClient, overrides: dict[str, str]
) -> None:
    creds = await make_client(app, ["goods:read"])
    _, challenge = pkce()
    params = authorize_params(creds, challenge, "goods:read", **overrides)
    if overrides.get("code_challenge_method") == "plain":
        params["code_challenge"] = "a" * 43
    response = await http.get("/oauth/authorize", params=params)
    query = redirect_query(response)
    assert query["error"] == "invalid_request"
    assert query["state"] == "st-123"


async def _code(
    app: Starlette, http: httpx.AsyncClient, world: World, scope: str = "goods:read"
) -> tuple[object, str, str]:
    creds = await make_client(app, scope.split())
    email = f"biz-{world.handle}@example.com"
    await world.user("business", email=email)
    verifier, challenge = pkce()
    params = authorize_params(creds, challenge, scope)
    browser = Browser(http)
    await browser.login(params, email)
    return creds, redirect_query(await browser.approve(params, world.shop.id))["code"], verifier


def _exchange(code: str, verifier: str, redirect_uri: str = REDIRECT_URI) -> dict[str, str]:
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": redirect_uri,
        "code_verifier": verifier,
    }


async def test_a_wrong_code_verifier_is_refused(
    app: Starlette, http: httpx.AsyncClient, world: World
) -> None:
    creds, code, _ = await _code(app, http, world)
    other_verifier, _ = pkce()
    refused = await token(http, creds, **_exchange(code, other_verifier))
    assert refused.json()["error"] == "invalid_grant"
    missing = await token(
        http, creds, grant_type="authorization_code", code=code, redirect_uri=REDIRECT_URI
    )
    assert missing.json()["error"] == "invalid_request"


async def test_reusing_a_code_revokes_the_tokens_issued_from_it(
    app: Starlette, http: httpx.AsyncClient, world: World, gql: GraphQLClient
) -> None:
    creds, code, verifier = await _code(app, http, world)
    first = await token(http, creds, **_exchange(code, verifier))
    assert first.status_code == 200
    issued = first.json()
    assert (await gql(ME, token=issued["access_token"])).status == 200

    again = await token(http, creds, **_exchange(code, verifier))
    assert again.status_code == 400
    assert again.json()["error"] == "invalid_grant"
    await _refused(gql, issued["access_token"])
    refreshed = await token(
        http, creds, grant_type="refresh_token", refresh_token=issued["refresh_token"]
    )
    assert refreshed.json()["error"] == "invalid_grant"


async def test_redirect_uri_must_match_exactly_at_authorize(
    app: Starlette, http: httpx.AsyncClient
) -> None:
    creds = await make_client(app, ["goods:read"])
    _, challenge = pkce()
    for uri in (f"{REDIRECT_URI}/", f"{REDIRECT_URI}?x=1", "https://evil.example/callback"):
        params = authorize_params(creds, challenge, "goods:read", redirect_uri=uri)
        response = await http.get("/oauth/authorize", params=params)
        # Never redirect to an unregistered URI, not even with an error.
        assert response.status_code == 400
        assert "location" not in response.headers


async def test_redirect_uri_must_match_exactly_at_the_token_endpoint(
    app: Starlette, http: httpx.AsyncClient, world: World
) -> None:
    creds, code, verifier = await _code(app, http, world)
    refused = await token(http, creds, **_exchange(code, verifier, f"{REDIRECT_URI}/"))
    assert refused.json()["error"] == "invalid_grant"


async def test_a_code_older_than_its_ttl_is_refused(
    app: Starlette, http: httpx.AsyncClient, world: World, clock: MutableClock
) -> None:
    assert CODE_TTL_SECONDS <= 600
    creds, code, verifier = await _code(app, http, world)
    clock.advance(CODE_TTL_SECONDS + 1)
    refused = await token(http, creds, **_exchange(code, verifier))
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


async def test_a_code_is_bound_to_its_client(
    app: Starlette, http: httpx.AsyncClient, world: World
) -> None:
    _, code, verifier = await _code(app, http, world)
    thief = await make_client(app, ["goods:read"])
    refused = await token(http, thief, **_exchange(code, verifier))
    assert refused.json()["error"] == "invalid_grant"
