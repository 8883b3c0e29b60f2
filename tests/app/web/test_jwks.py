"""The published JWKS: the public half of the signing key, enough to verify our access tokens."""

from __future__ import annotations

import base64
import json

import httpx
import pytest
from joserfc import jwt
from joserfc.errors import BadSignatureError
from joserfc.jwk import ECKey, KeySet

from tests.support.factories import World

pytestmark = pytest.mark.anyio


def _header(token: str) -> dict[str, str]:
    segment = token.split(".", maxsplit=1)[0]
    return json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))


async def test_jwks_publishes_the_public_signing_key_only(
    http: httpx.AsyncClient, world: World
) -> None:
    _, token = await world.user()
    response = await http.get("/.well-known/jwks.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    keys = response.json()["keys"]
    assert len(keys) == 1
    key = keys[0]
    assert key["kty"] == "EC"
    assert key["crv"] == "P-256"
    assert key["kid"] == _header(token)["kid"]
    assert {"x", "y"} <= key.keys()
    assert "d" not in key


async def test_an_issued_token_verifies_against_the_published_jwks(
    http: httpx.AsyncClient, world: World
) -> None:
    user_id, token = await world.user()
    published = KeySet.import_key_set((await http.get("/.well-known/jwks.json")).json())
    decoded = jwt.decode(token, published, algorithms=["ES256"])
    assert decoded.claims["sub"] == f"user:{user_id}"
    assert decoded.header["alg"] == "ES256"

    stranger = ECKey.generate_key("P-256", auto_kid=True)
    forged = jwt.encode(decoded.header, decoded.claims, stranger, algorithms=["ES256"])
    with pytest.raises(BadSignatureError):
        jwt.decode(forged, published, algorithms=["ES256"])
