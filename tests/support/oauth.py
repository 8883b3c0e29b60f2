"""Driving the OAuth server as an app and a browser would: registered clients, PKCE pairs, the
consent page (its form parsed with html.parser and posted back with its cookie)."""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass
from html.parser import HTMLParser
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import httpx
from starlette.applications import Starlette

from app.security.clients import IssuedCredentials, register_client
from tests.support.factories import World

REDIRECT_URI = "https://app.example/callback"
PASSWORD = "correct horse battery"


async def make_client(
    app: Starlette,
    scopes: list[str],
    *,
    grants: tuple[str, ...] = ("client_credentials", "authorization_code", "refresh_token"),
    redirect_uris: tuple[str, ...] = (REDIRECT_URI,),
) -> IssuedCredentials:
    services = app.state.services
    async with services.db.writer() as session, session.begin():
        return await register_client(
            session,
            services.cipher,
            name="Test App",
            scopes=scopes,
            redirect_uris=list(redirect_uris),
            grant_types=list(grants),
        )


def basic(creds: IssuedCredentials) -> tuple[str, str]:
    return (creds.client_id, creds.client_secret)


def pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    digest = hashlib.sha256(verifier.encode()).digest()
    return verifier, base64.urlsafe_b64encode(digest).decode().rstrip("=")


class FormParser(HTMLParser):
    """The page's form: its action and the inputs, selects and buttons it would submit."""

    def __init__(self) -> None:
        super().__init__()
        self.action: str | None = None
        self.fields: dict[str, str] = {}
        self.options: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        values = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.action = values.get("action")
        elif tag == "input" and values.get("type") == "hidden":
            self.fields[values["name"]] = values.get("value", "")
        elif tag == "option":
            self.options.append(values["value"])


def parse_form(html: str) -> FormParser:
    parser = FormParser()
    parser.feed(html)
    assert parser.action is not None, html
    return parser


def authorize_params(
    creds: IssuedCredentials, challenge: str, scope: str, **overrides: str
) -> dict[str, str]:
    params = {
        "response_type": "code",
        "client_id": creds.client_id,
        "redirect_uri": REDIRECT_URI,
        "scope": scope,
        "state": "st-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    params.update(overrides)
    return {k: v for k, v in params.items() if v != ""}


@dataclass
class Browser:
    """A user agent with its own cookie jar, on the same ASGI app."""

    http: httpx.AsyncClient

    async def login(self, params: dict[str, str], email: str) -> httpx.Response:
        page = await self.http.get(f"/oauth/authorize?{urlencode(params)}")
        assert page.status_code == 200, page.text
        form = parse_form(page.text)
        assert form.fields["action"] == "login"
        fields = {**form.fields, "email": email, "password": PASSWORD}
        return await self.http.post(form.action or "", data=fields)

    async def consent_form(self, params: dict[str, str]) -> FormParser:
        page = await self.http.get(f"/oauth/authorize?{urlencode(params)}")
        assert page.status_code == 200, page.text
        return parse_form(page.text)

    async def approve(self, params: dict[str, str], shop_id: int) -> httpx.Response:
        form = await self.consent_form(params)
        return await self.http.post(
            form.action or "", data={**form.fields, "shop": str(shop_id), "action": "approve"}
        )


def redirect_query(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 302, response.text
    location = response.headers["location"]
    assert location.startswith(REDIRECT_URI), location
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query).items()}


async def token(http: httpx.AsyncClient, creds: IssuedCredentials, **form: str) -> httpx.Response:
    return await http.post("/oauth/token", data=form, auth=basic(creds))


def json_of(response: httpx.Response) -> dict[str, Any]:
    return response.json()  # type: ignore[no-any-return]


async def install(
    app: Starlette, http: httpx.AsyncClient, world: World, scope: str
) -> tuple[IssuedCredentials, dict[str, Any]]:
    """A business user of ``world`` approves ``scope`` on the consent page; the client and the
    tokens its code was exchanged for."""
    creds = await make_client(app, scope.split())
    email = f"biz-{world.handle}@example.com"
    await world.user("business", email=email)
    verifier, challenge = pkce()
    params = authorize_params(creds, challenge, scope)
    browser = Browser(http)
    assert (await browser.login(params, email)).status_code == 303
    query = redirect_query(await browser.approve(params, world.shop.id))
    response = await token(
        http,
        creds,
        grant_type="authorization_code",
        code=query["code"],
        redirect_uri=params["redirect_uri"],
        code_verifier=verifier,
    )
    assert response.status_code == 200, response.text
    return creds, response.json()
