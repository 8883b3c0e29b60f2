"""Installing a marketplace app as a merchant and an app would: appInstall's authorization URL,
the app's PKCE, the consent page, and the code exchange."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx

from app.security.clients import IssuedCredentials
from tests.support.factories import World
from tests.support.oauth import Browser, pkce, redirect_query, token

__all__ = ["app_token", "complete_install"]


async def complete_install(
    http: httpx.AsyncClient,
    world: World,
    credentials: IssuedCredentials,
    authorization_url: str,
    merchant_email: str,
) -> dict[str, Any]:
    """The merchant approves at ``authorization_url`` (plus the app's PKCE challenge) for the
    world's shop; the app redeems the code. The token response."""
    params = dict(parse_qsl(urlsplit(authorization_url).query))
    verifier, challenge = pkce()
    params |= {"code_challenge": challenge, "code_challenge_method": "S256"}
    browser = Browser(http)
    assert (await browser.login(params, merchant_email)).status_code == 303
    query = redirect_query(await browser.approve(params, world.shop.id))
    assert query["state"] == params["state"]
    response = await token(
        http,
        credentials,
        grant_type="authorization_code",
        code=query["code"],
        redirect_uri=params["redirect_uri"],
        code_verifier=verifier,
    )
    assert response.status_code == 200, response.text
    return dict(response.json())


async def app_token(http: httpx.AsyncClient, credentials: IssuedCredentials) -> str:
    """A client-credentials token: the app acting as itself, in no shop."""
    response = await token(http, credentials, grant_type="client_credentials")
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])
