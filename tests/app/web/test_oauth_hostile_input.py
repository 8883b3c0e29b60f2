"""Hostile bytes at the OAuth endpoints get a refusal, never a 500."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import httpx
import pytest
from starlette.applications import Starlette

from app.web.consent import COOKIE
from tests.support.oauth import authorize_params, make_client, parse_form, pkce

pytestmark = pytest.mark.anyio


async def test_a_non_ascii_consent_cookie_is_no_session(
    app: Starlette, http: httpx.AsyncClient
) -> None:
    creds = await make_client(app, ["goods:read"])
    _, challenge = pkce()
    query = urlencode(authorize_params(creds, challenge, "goods:read"))
    response = await http.get(
        f"/oauth/authorize?{query}", headers={"cookie": f"{COOKIE}=abc.\u00e9".encode("latin-1")}
    )
    assert response.status_code == 200  # the login form, as for anyone without a session
    assert "csrf_token" in response.text


async def test_a_non_ascii_csrf_token_is_refused(app: Starlette, http: httpx.AsyncClient) -> None:
    creds = await make_client(app, ["goods:read"])
    _, challenge = pkce()
    page = await http.get(
        f"/oauth/authorize?{urlencode(authorize_params(creds, challenge, 'goods:read'))}"
    )
    form = parse_form(page.text)
    response = await http.post(form.action, data={"csrf_token": "\u00e9", "action": "login"})
    assert 400 <= response.status_code < 500


@pytest.mark.parametrize(
    "credentials",
    [
        "\u00e9",
        base64.b64encode("\u00e9:\u00e9".encode()).decode(),
        "%%%",
        base64.b64encode(b"\xff\xfe:x").decode(),
    ],
)
async def test_garbled_basic_credentials_are_an_unknown_client(
    app: Starlette, http: httpx.AsyncClient, credentials: str
) -> None:
    for path in ("/oauth/token", "/oauth/introspect", "/oauth/revoke"):
        response = await http.post(
            path,
            content=b"grant_type=client_credentials&token=x",
            headers={
                "authorization": f"Basic {credentials}".encode(),
                "content-type": "application/x-www-form-urlencoded",
            },
        )
        assert 400 <= response.status_code < 500, (path, response.status_code, response.text)
