"""OAuth end to end through HTTP: client credentials, the consent page with PKCE, refresh
rotation, revocation, introspection and the metadata document."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from starlette.applications import Starlette

from app.config import Settings
from app.security.oauth.scopes import SCOPES
from tests.support.factories import World
from tests.support.graphql import GraphQLClient
from tests.support.oauth import (
    Browser,
    authorize_params,
    basic,
    install,
    make_client,
    parse_form,
    pkce,
    redirect_query,
    token,
)

pytestmark = pytest.mark.anyio

ME = "{ __typename }"


def _segment(jwt: str, index: int) -> dict[str, object]:
    part = jwt.split(".")[index]
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


async def _business_user(world: World) -> str:
    email = f"biz-{world.handle}@example.com"
    await world.user("business", email=email)
    return email


async def test_client_credentials_issue_a_short_lived_rfc9068_token(
    app: Starlette, http: httpx.AsyncClient, settings: Settings
) -> None:
    creds = await make_client(app, ["goods:read", "webhooks"], grants=("client_credentials",))
    response = await token(http, creds, grant_type="client_credentials", scope="goods:read")
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.access_token_ttl_seconds <= 3600
    assert body["scope"] == "goods:read"
    assert "refresh_token" not in body
    header, claims = _segment(body["access_token"], 0), _segment(body["access_token"], 1)
    jwks = (await http.get("/.well-known/jwks.json")).json()
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    assert header["kid"] in {k["kid"] for k in jwks["keys"]}
    assert claims["iss"] == claims["aud"] == settings.public_url
    assert claims["client_id"] == creds.client_id
    assert claims["sub"] == f"app:{creds.client_id}"
    assert claims["scope"] == "goods:read"
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl_seconds
    assert claims["jti"]
    assert "shop" not in claims


async def test_client_credentials_refuse_a_wrong_secret_and_unregistered_scopes(
    app: Starlette, http: httpx.AsyncClient
) -> None:
    creds = await make_client(app, ["goods:read"], grants=("client_credentials",))
    wrong = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(creds.client_id, "not-the-secret"),
    )
    assert wrong.status_code == 401
    assert wrong.json()["error"] == "invalid_client"
    for scope in ("goods:write", "no-such:scope"):
        refused = await token(http, creds, grant_type="client_credentials", scope=scope)
        assert refused.status_code == 400
        assert refused.json()["error"] == "invalid_scope"
    refresh = await token(http, creds, grant_type="authorization_code", code="x")
    assert refresh.json()["error"] == "unauthorized_client"


async def test_code_flow_with_pkce_through_the_consent_page(
    app: Starlette, http: httpx.AsyncClient, world: World, gql: GraphQLClient
) -> None:
    creds = await make_client(app, ["goods:read", "goods:write"])
    email = await _business_user(world)
    verifier, challenge = pkce()
    params = authorize_params(creds, challenge, "goods:write")
    browser = Browser(http)

    first = await http.get("/oauth/authorize", params=params)
    assert first.status_code == 200
    cookie = first.headers["set-cookie"].lower()
    assert "httponly" in cookie
    assert "samesite=lax" in cookie
    assert first.headers["x-frame-options"] == "DENY"
    assert parse_form(first.text).fields["csrf_token"]

    logged_in = await browser.login(params, email)
    assert logged_in.status_code == 303
    form = await browser.consent_form(params)
    assert form.options == [str(world.shop.id)]
    assert "Test App" in (await http.get("/oauth/authorize", params=params)).text

    query = redirect_query(await browser.approve(params, world.shop.id))
    assert query["state"] == "st-123"
    response = await token(
        http,
        creds,
        grant_type="authorization_code",
        code=query["code"],
        redirect_uri=params["redirect_uri"],
        code_verifier=verifier,
    )
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["refresh_token"]
    assert body["scope"] == "goods:write"
    claims = _segment(body["access_token"], 1)
    assert claims["shop"] == world.shop.id
    assert claims["client_id"] == creds.client_id
    assert (await gql(ME, token=body["access_token"], shop=world.handle)).status == 200


async def test_consent_posts_need_the_session_csrf_token(
    app: Starlette, http: httpx.AsyncClient, world: World
) -> None:
    creds = await make_client(app, ["goods:read"])
    email = await _business_user(world)
    _, challenge = pkce()
    params = authorize_params(creds, challenge, "goods:read")
    browser = Browser(http)
    await browser.login(params, email)
    form = await browser.consent_form(params)
    forged = {**form.fields, "csrf_token": "guessed", "shop": str(world.shop.id)}
    refused = await http.post(form.action or "", data={**forged, "action": "approve"})
    assert refused.status_code == 403
    assert "location" not in refused.headers
    http.cookies.clear()
    cookieless = await http.post(
        form.action or "", data={**form.fields, "shop": str(world.shop.id), "action": "approve"}
    )
    assert cookieless.status_code == 403


async def test_a_user_may_only_install_into_shops_they_run(
    app: Starlette, http: httpx.AsyncClient, world: World, other_world: World
) -> None:
    creds = await make_client(app, ["goods:read"])
    email = await _business_user(world)
    _, challenge = pkce()
    params = authorize_params(creds, challenge, "goods:read")
    browser = Browser(http)
    await browser.login(params, email)
    refused = await browser.approve(params, other_world.shop.id)
    assert refused.status_code == 403

    shopper_email = f"shopper-{other_world.handle}@example.com"
    await other_world.user("shopper", email=shopper_email)
    http.cookies.clear()
    await browser.login(params, shopper_email)
    page = await http.get("/oauth/authorize", params=params)
    assert page.status_code == 403


async def test_wrong_password_shows_the_login_form_again(
    app: Starlette, http: httpx.AsyncClient, world: World
) -> None:
    creds = await make_client(app, ["goods:read"])
    email = await _business_user(world)
    _, challenge = pkce()
    params = authorize_params(creds, challenge, "goods:read")
    page = await http.get("/oauth/authorize", params=params)
    form = parse_form(page.text)
    wrong = await http.post(
        form.action or "", data={**form.fields, "email": email, "password": "nope-nope-nope"}
    )
    assert wrong.status_code == 401
    assert parse_form(wrong.text).fields["action"] == "login"


async def test_denying_consent_redirects_with_access_denied(
    app: Starlette, http: httpx.AsyncClient, world: World
) -> None:
    creds = await make_client(app, ["goods:read"])
    email = await _business_user(world)
    _, challenge = pkce()
    params = authorize_params(creds, challenge, "goods:read")
    browser = Browser(http)
    await browser.login(params, email)
    form = await browser.consent_form(params)
    denied = await http.post(form.action or "", data={**form.fields, "action": "deny"})
    query = redirect_query(denied)
    assert query["error"] == "access_denied"
    assert "code" not in query


async def test_refresh_tokens_rotate_and_a_replay_revokes_the_family(
    app: Starlette, http: httpx.AsyncClient, world: World, gql: GraphQLClient
) -> None:
    creds, first = await install(app, http, world, "goods:read")
    second = await token(
        http, creds, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert second.status_code == 200, second.text
    rotated = second.json()
    assert rotated["refresh_token"] != first["refresh_token"]
    assert _segment(rotated["access_token"], 1)["shop"] == world.shop.id
    assert (await gql(ME, token=rotated["access_token"])).status == 200

    replay = await token(
        http, creds, grant_type="refresh_token", refresh_token=first["refresh_token"]
    )
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    # The replay means a copy leaked: the newest refresh and access tokens die with it.
    newest = await token(
        http, creds, grant_type="refresh_token", refresh_token=rotated["refresh_token"]
    )
    assert newest.json()["error"] == "invalid_grant"
    assert (await gql(ME, token=rotated["access_token"])).status == 401


async def test_a_refresh_token_works_only_for_its_own_client(
    app: Starlette, http: httpx.AsyncClient, world: World
) -> None:
    _, tokens = await install(app, http, world, "goods:read")
    other = await make_client(app, ["goods:read"])
    stolen = await token(
        http, other, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert stolen.json()["error"] == "invalid_grant"


async def test_revoked_access_token_is_refused_on_the_next_call(
    app: Starlette, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    creds = await make_client(app, ["goods:read"], grants=("client_credentials",))
    access = (await token(http, creds, grant_type="client_credentials")).json()["access_token"]
    assert (await gql(ME, token=access)).status == 200
    revoked = await http.post(
        "/oauth/revoke",
        data={"token": access, "token_type_hint": "access_token"},
        auth=basic(creds),
    )
    assert revoked.status_code == 200
    result = await gql(ME, token=access)
    assert result.status == 401
    assert result.codes == ["UNAUTHENTICATED"]


async def test_revoking_a_refresh_token_ends_its_grant(
    app: Starlette, http: httpx.AsyncClient, world: World, gql: GraphQLClient
) -> None:
    creds, tokens = await install(app, http, world, "goods:read")
    revoked = await http.post(
        "/oauth/revoke", data={"token": tokens["refresh_token"]}, auth=basic(creds)
    )
    assert revoked.status_code == 200
    refused = await token(
        http, creds, grant_type="refresh_token", refresh_token=tokens["refresh_token"]
    )
    assert refused.json()["error"] == "invalid_grant"
    assert (await gql(ME, token=tokens["access_token"])).status == 401


async def test_another_client_cannot_revoke_a_token(
    app: Starlette, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    owner = await make_client(app, ["goods:read"], grants=("client_credentials",))
    stranger = await make_client(app, ["goods:read"], grants=("client_credentials",))
    access = (await token(http, owner, grant_type="client_credentials")).json()["access_token"]
    answer = await http.post("/oauth/revoke", data={"token": access}, auth=basic(stranger))
    assert answer.status_code == 200
    assert (await gql(ME, token=access)).status == 200


async def test_introspection_answers_only_about_the_callers_own_tokens(
    app: Starlette, http: httpx.AsyncClient, world: World
) -> None:
    creds, tokens = await install(app, http, world, "goods:read")
    own = await http.post(
        "/oauth/introspect", data={"token": tokens["access_token"]}, auth=basic(creds)
    )
    assert own.status_code == 200
    body = own.json()
    assert body["active"] is True
    assert body["client_id"] == creds.client_id
    assert body["scope"] == "goods:read"
    assert body["shop"] == world.shop.id
    assert body["token_type"] == "access_token"
    refresh = await http.post(
        "/oauth/introspect",
        data={"token": tokens["refresh_token"], "token_type_hint": "refresh_token"},
        auth=basic(creds),
    )
    assert refresh.json()["active"] is True
    assert refresh.json()["token_type"] == "refresh_token"

    stranger = await make_client(app, ["goods:read"], grants=("client_credentials",))
    for raw in (tokens["access_token"], tokens["refresh_token"]):
        other = await http.post("/oauth/introspect", data={"token": raw}, auth=basic(stranger))
        assert other.status_code == 200
        assert other.json() == {"active": False}
    anonymous = await http.post("/oauth/introspect", data={"token": tokens["access_token"]})
    assert anonymous.status_code == 401
    assert anonymous.json()["error"] == "invalid_client"

    await http.post("/oauth/revoke", data={"token": tokens["access_token"]}, auth=basic(creds))
    after = await http.post(
        "/oauth/introspect", data={"token": tokens["access_token"]}, auth=basic(creds)
    )
    assert after.json() == {"active": False}


async def test_metadata_describes_the_server(http: httpx.AsyncClient, settings: Settings) -> None:
    response = await http.get("/.well-known/oauth-authorization-server")
    assert response.status_code == 200
    meta = response.json()
    base = settings.public_url
    assert meta["issuer"] == base
    assert meta["token_endpoint"] == f"{base}/oauth/token"
    assert meta["authorization_endpoint"] == f"{base}/oauth/authorize"
    assert meta["revocation_endpoint"] == f"{base}/oauth/revoke"
    assert meta["introspection_endpoint"] == f"{base}/oauth/introspect"
    assert meta["jwks_uri"] == f"{base}/.well-known/jwks.json"
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert set(meta["grant_types_supported"]) == {
        "authorization_code",
        "client_credentials",
        "refresh_token",
    }
    assert meta["scopes_supported"] == list(SCOPES)
