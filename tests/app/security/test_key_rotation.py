"""`agora keys rotate`: a new signing key, while tokens signed with the previous one keep
verifying (and the JWKS lists both) until they expire."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from starlette.applications import Starlette
from typer.testing import CliRunner

from app.cli import cli
from app.config import Settings
from app.main import create_app
from app.security.keys import load_or_create_signing_keys, rotate_signing_keys
from tests.support.clock import MutableClock
from tests.support.oauth import make_client, token

pytestmark = pytest.mark.anyio

ME = "{ __typename }"


def _kid(jwt: str) -> str:
    part = jwt.split(".", maxsplit=1)[0]
    return str(json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))["kid"])


async def _client(application: Starlette) -> AsyncIterator[httpx.AsyncClient]:
    async with application.router.lifespan_context(application):
        transport = httpx.ASGITransport(app=application)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http


async def _status(http: httpx.AsyncClient, access: str) -> int:
    response = await http.post(
        "/graphql", json={"query": ME}, headers={"authorization": f"Bearer {access}"}
    )
    return response.status_code


async def test_old_tokens_verify_after_a_rotation_until_they_expire(
    settings: Settings, migrated: str, tmp_path: Path, clock: MutableClock
) -> None:
    keyed = settings.model_copy(update={"jwt_private_key_path": tmp_path / "signing.json"})
    before = create_app(keyed, clock=clock)
    async for http in _client(before):
        creds = await make_client(before, ["goods:read"], grants=("client_credentials",))
        old = (await token(http, creds, grant_type="client_credentials")).json()["access_token"]
    old_kid = _kid(old)

    runner = CliRunner()
    result = runner.invoke(
        cli, ["keys", "rotate"], env={"AGORA_JWT_PRIVATE_KEY_PATH": str(keyed.jwt_private_key_path)}
    )
    assert result.exit_code == 0, result.output

    after = create_app(keyed, clock=clock)  # a restarted server reads the rotated file
    async for http in _client(after):
        kids = [k["kid"] for k in (await http.get("/.well-known/jwks.json")).json()["keys"]]
        assert len(kids) == 2
        assert kids[1] == old_kid
        new = (await token(http, creds, grant_type="client_credentials")).json()["access_token"]
        assert _kid(new) == kids[0] != old_kid
        assert await _status(http, old) == 200
        assert await _status(http, new) == 200
        clock.advance(keyed.access_token_ttl_seconds + 61)
        assert await _status(http, old) == 401


def test_a_second_rotation_retires_the_oldest_key(tmp_path: Path) -> None:
    path = tmp_path / "signing.json"
    first = load_or_create_signing_keys(path).current
    second = rotate_signing_keys(path)
    assert second.previous == (first,)
    third = rotate_signing_keys(path)
    assert [k.kid for k in third.all] == [third.current.kid, second.current.kid]
    assert load_or_create_signing_keys(path) == third
    assert path.stat().st_mode & 0o077 == 0


def test_rotate_refuses_when_there_is_no_key(tmp_path: Path) -> None:
    result = CliRunner().invoke(
        cli, ["keys", "rotate"], env={"AGORA_JWT_PRIVATE_KEY_PATH": str(tmp_path / "none.json")}
    )
    assert result.exit_code == 2
