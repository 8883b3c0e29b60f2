"""The identity API over HTTP: sign-up, login with lockout, refresh rotation, logout, and the
access-token checks of the Authentication middleware."""

from __future__ import annotations

import base64
import json
from typing import Any

import httpx
import pytest
from joserfc import jwt
from joserfc.jwk import ECKey
from sqlalchemy import func, select, text

from app.config import Settings
from app.identity.models import User
from app.identity.personal import email_index
from app.security.blind_index import IndexedFieldCipher
from app.security.keys import load_or_create_signing_key
from app.security.rbac import shop_domain
from app.security.tokens import TokenService
from tests.support.clock import MutableClock
from tests.support.factories import World, unique
from tests.support.graphql import GraphQLClient, GraphQLResult

pytestmark = pytest.mark.anyio

PASSWORD = "correct horse battery"

REGISTER = """
mutation Register($input: CustomerRegisterInput!) {
  customerRegister(input: $input) {
    user { email }
    errors { code message field }
  }
}
"""
LOGIN = """
mutation Login($email: String!, $password: String!) {
  tokenCreate(email: $email, password: $password) {
    accessToken refreshToken tokenType expiresIn
    user { email }
    errors { code message field }
  }
}
"""
REFRESH = """
mutation Refresh($token: String!) {
  tokenRefresh(refreshToken: $token) {
    accessToken refreshToken
    user { email }
    errors { code message field }
  }
}
"""
REVOKE = """
mutation Revoke($token: String!) {
  tokenRevoke(refreshToken: $token) { revoked errors { code } }
}
"""
ME = "query { me { email roles { role domain } } }"


async def register(
    gql: GraphQLClient, world: World, email: str, password: str = PASSWORD
) -> dict[str, Any]:
    variables = {"input": {"email": email, "password": password, "name": "Ann"}}
    return (await gql(REGISTER, variables, shop=world.handle)).ok()["customerRegister"]


async def login(gql: GraphQLClient, email: str, password: str = PASSWORD) -> dict[str, Any]:
    result = await gql(LOGIN, {"email": email, "password": password})
    return result.ok()["tokenCreate"]


async def refresh(gql: GraphQLClient, token: str) -> dict[str, Any]:
    return (await gql(REFRESH, {"token": token})).ok()["tokenRefresh"]


async def me(gql: GraphQLClient, token: str | None) -> GraphQLResult:
    return await gql(ME, token=token)


async def users_with_email(world: World, email: str) -> int:
    async with world.services.db.reader() as session:
        index = email_index(IndexedFieldCipher.of(world.services.cipher), email)
        count = await session.scalar(select(func.count()).where(User.email_index == index))
    return int(count or 0)


async def signed_up(gql: GraphQLClient, world: World) -> str:
    email = f"{unique('shopper')}@example.com"
    assert (await register(gql, world, email))["errors"] == []
    return email


# --- customerRegister ---------------------------------------------------------------------


async def test_register_creates_a_shopper_of_the_shop_with_a_lower_cased_email(
    gql: GraphQLClient, world: World
) -> None:
    local = unique("Ann")
    registered = await register(gql, world, f"{local}@Example.COM")
    assert registered["errors"] == []
    # The anonymous caller is not (yet) this user: the payload shows the address masked.
    assert registered["user"]["email"] == "a***@example.com"

    tokens = await login(gql, f"{local.lower()}@example.com")
    assert tokens["errors"] == []
    caller = (await me(gql, tokens["accessToken"])).ok()["me"]
    assert caller["email"] == f"{local.lower()}@example.com"
    assert caller["roles"] == [{"role": "shopper", "domain": shop_domain(world.shop.id)}]
    assert await users_with_email(world, f"{local.lower()}@example.com") == 1


async def test_register_with_a_taken_email_in_any_case_is_refused_and_writes_nothing(
    gql: GraphQLClient, world: World
) -> None:
    email = f"{unique('taken')}@example.com"
    assert (await register(gql, world, email))["errors"] == []

    again = await register(gql, world, email.upper(), password="another long password")
    assert again["user"] is None
    assert [e["code"] for e in again["errors"]] == ["EMAIL_TAKEN"]
    assert again["errors"][0]["field"] == ["email"]
    assert await users_with_email(world, email) == 1
    assert (await login(gql, email, "another long password"))["accessToken"] is None
    assert (await login(gql, email))["accessToken"] is not None


async def test_register_with_a_short_password_is_refused_and_writes_nothing(
    gql: GraphQLClient, world: World
) -> None:
    email = f"{unique('short')}@example.com"
    refused = await register(gql, world, email, password="123456789")
    assert refused["user"] is None
    assert [e["code"] for e in refused["errors"]] == ["PASSWORD_TOO_SHORT"]
    assert refused["errors"][0]["field"] == ["password"]
    assert await users_with_email(world, email) == 0


@pytest.mark.parametrize("email", ["not-an-email", "two@@example.com", "ann@example", "a b@x.io"])
async def test_register_with_a_bad_email_is_refused_and_writes_nothing(
    gql: GraphQLClient, world: World, email: str
) -> None:
    refused = await register(gql, world, email)
    assert refused["user"] is None
    assert [e["code"] for e in refused["errors"]] == ["INVALID"]
    assert refused["errors"][0]["field"] == ["email"]
    assert await users_with_email(world, email.lower()) == 0


# --- tokenCreate and lockout --------------------------------------------------------------


async def test_wrong_password_unknown_email_and_locked_account_look_alike(
    gql: GraphQLClient, world: World, settings: Settings, clock: MutableClock
) -> None:
    assert settings.login_max_failures == 3
    email = await signed_up(gql, world)

    wrong = await login(gql, email, "not the password")
    unknown = await login(gql, f"{unique('nobody')}@example.com")
    for _ in range(settings.login_max_failures - 1):
        await login(gql, email, "not the password")
    locked = await login(gql, email)

    for refusal in (wrong, unknown, locked):
        assert refusal["accessToken"] is None
        assert refusal["refreshToken"] is None
        assert refusal["user"] is None
        assert [e["code"] for e in refusal["errors"]] == ["INVALID_CREDENTIALS"]
    assert wrong["errors"] == unknown["errors"] == locked["errors"]

    clock.advance(settings.login_lockout_seconds - 5)
    assert (await login(gql, email))["accessToken"] is None

    clock.advance(6)
    unlocked = await login(gql, email)
    assert unlocked["errors"] == []
    assert (await me(gql, unlocked["accessToken"])).ok()["me"]["email"] == email


async def test_fewer_failures_than_the_limit_do_not_lock_and_a_login_resets_the_count(
    gql: GraphQLClient, world: World, settings: Settings
) -> None:
    email = await signed_up(gql, world)
    for _ in range(2):
        for _ in range(settings.login_max_failures - 1):
            assert (await login(gql, email, "not the password"))["accessToken"] is None
        assert (await login(gql, email))["accessToken"] is not None


async def test_login_returns_working_tokens(gql: GraphQLClient, world: World) -> None:
    email = await signed_up(gql, world)
    tokens = await login(gql, email.upper())
    assert tokens["errors"] == []
    assert tokens["tokenType"] == "Bearer"
    assert tokens["expiresIn"] == world.services.settings.access_token_ttl_seconds
    assert tokens["user"]["email"] == email
    assert (await me(gql, tokens["accessToken"])).ok()["me"]["email"] == email
    assert (await refresh(gql, tokens["refreshToken"]))["errors"] == []


# --- tokenRefresh and tokenRevoke ---------------------------------------------------------


def _invalid_token(payload: dict[str, Any]) -> None:
    assert payload["accessToken"] is None
    assert payload["refreshToken"] is None
    assert [e["code"] for e in payload["errors"]] == ["INVALID_TOKEN"]


async def test_refresh_rotates_and_each_refresh_token_works_once(
    gql: GraphQLClient, world: World
) -> None:
    email = await signed_up(gql, world)
    first = (await login(gql, email))["refreshToken"]

    second = await refresh(gql, first)
    assert second["errors"] == []
    assert second["refreshToken"] not in (None, first)
    assert second["user"]["email"] == email
    assert (await me(gql, second["accessToken"])).ok()["me"]["email"] == email

    third = await refresh(gql, second["refreshToken"])
    assert third["errors"] == []
    assert third["refreshToken"] not in (first, second["refreshToken"])


async def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(
    gql: GraphQLClient, world: World
) -> None:
    email = await signed_up(gql, world)
    first = (await login(gql, email))["refreshToken"]
    other_device = (await login(gql, email))["refreshToken"]
    newest = (await refresh(gql, first))["refreshToken"]

    _invalid_token(await refresh(gql, first))
    _invalid_token(await refresh(gql, newest))
    _invalid_token(await refresh(gql, first))
    assert (await refresh(gql, other_device))["errors"] == []


async def test_revoke_ends_the_family_and_an_unknown_token_is_not_revoked(
    gql: GraphQLClient, world: World
) -> None:
    email = await signed_up(gql, world)
    first = (await login(gql, email))["refreshToken"]
    other_device = (await login(gql, email))["refreshToken"]
    newest = (await refresh(gql, first))["refreshToken"]

    revoked = (await gql(REVOKE, {"token": first})).ok()["tokenRevoke"]
    assert revoked == {"revoked": True, "errors": []}
    _invalid_token(await refresh(gql, newest))
    assert (await refresh(gql, other_device))["errors"] == []

    unknown = (await gql(REVOKE, {"token": "no-such-refresh-token"})).ok()["tokenRevoke"]
    assert unknown == {"revoked": False, "errors": []}


async def test_an_unknown_refresh_token_is_refused(gql: GraphQLClient) -> None:
    _invalid_token(await refresh(gql, "no-such-refresh-token"))


async def test_an_expired_refresh_token_is_refused(
    gql: GraphQLClient, world: World, settings: Settings, clock: MutableClock
) -> None:
    email = await signed_up(gql, world)
    token = (await login(gql, email))["refreshToken"]
    clock.advance(settings.refresh_token_ttl_seconds + 1)
    _invalid_token(await refresh(gql, token))


async def test_the_refresh_token_is_stored_only_as_a_hash(gql: GraphQLClient, world: World) -> None:
    email = await signed_up(gql, world)
    raw = (await login(gql, email))["refreshToken"]
    assert raw
    async with world.services.db.reader() as session:
        index = email_index(IndexedFieldCipher.of(world.services.cipher), email)
        user_id = await session.scalar(select(User.id).where(User.email_index == index))
        rows = (
            await session.execute(
                text("SELECT * FROM refresh_tokens WHERE user_id = :user_id"), {"user_id": user_id}
            )
        ).all()
    assert len(rows) == 1
    stored = " ".join(str(value) for value in rows[0])
    assert raw not in stored
    assert raw[:16] not in stored
    assert (await refresh(gql, raw))["errors"] == []


# --- access tokens at the door ------------------------------------------------------------


async def _me_over_http(http: httpx.AsyncClient, authorization: str | None) -> httpx.Response:
    headers = {} if authorization is None else {"Authorization": authorization}
    return await http.post("/graphql", json={"query": ME}, headers=headers)


def _assert_unauthenticated(response: httpx.Response) -> None:
    assert response.status_code == 401, response.text
    assert response.json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert "data" not in response.json()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _flip_middle(segment: str) -> str:
    middle = len(segment) // 2
    replacement = "A" if segment[middle] != "A" else "B"
    return segment[:middle] + replacement + segment[middle + 1 :]


async def test_a_valid_token_is_accepted_and_no_header_is_anonymous(
    http: httpx.AsyncClient, world: World
) -> None:
    email = f"{unique('door')}@example.com"
    _, token = await world.user(email=email)
    accepted = await _me_over_http(http, f"Bearer {token}")
    assert accepted.status_code == 200
    assert accepted.json()["data"]["me"]["email"] == email

    anonymous = await _me_over_http(http, None)
    assert anonymous.status_code == 200
    assert anonymous.json()["data"] == {"me": None}
    assert "errors" not in anonymous.json()


async def test_an_expired_access_token_is_refused_with_401(
    http: httpx.AsyncClient, world: World, settings: Settings, clock: MutableClock
) -> None:
    _, token = await world.user()
    assert (await _me_over_http(http, f"Bearer {token}")).status_code == 200
    clock.advance(settings.access_token_ttl_seconds + 61)
    _assert_unauthenticated(await _me_over_http(http, f"Bearer {token}"))


@pytest.mark.parametrize("part", [1, 2], ids=["payload", "signature"])
async def test_a_tampered_token_is_refused(
    http: httpx.AsyncClient, world: World, part: int
) -> None:
    _, token = await world.user()
    segments = token.split(".")
    segments[part] = _flip_middle(segments[part])
    _assert_unauthenticated(await _me_over_http(http, f"Bearer {'.'.join(segments)}"))


async def test_a_token_whose_claims_were_rewritten_is_refused(
    http: httpx.AsyncClient, world: World
) -> None:
    victim_id, _ = await world.user()
    _, token = await world.user()
    header, payload, signature = token.split(".")
    claims = json.loads(_unb64(payload))
    claims["sub"] = f"user:{victim_id}"
    forged = ".".join([header, _b64(json.dumps(claims).encode()), signature])
    _assert_unauthenticated(await _me_over_http(http, f"Bearer {forged}"))


@pytest.mark.parametrize("kid", ["ours", "own"])
async def test_a_token_signed_by_another_key_is_refused(
    http: httpx.AsyncClient, world: World, kid: str
) -> None:
    _, token = await world.user()
    header_segment, payload_segment, _ = token.split(".")
    header = json.loads(_unb64(header_segment))
    claims = json.loads(_unb64(payload_segment))
    intruder = ECKey.generate_key("P-256", auto_kid=True)
    if kid == "own":
        header["kid"] = intruder.kid
    forged = jwt.encode(header, claims, intruder, algorithms=["ES256"])
    _assert_unauthenticated(await _me_over_http(http, f"Bearer {forged}"))


async def test_an_unsigned_alg_none_token_is_refused(http: httpx.AsyncClient, world: World) -> None:
    _, token = await world.user()
    header, payload, _ = token.split(".")
    none_header = json.loads(_unb64(header)) | {"alg": "none"}
    forged = f"{_b64(json.dumps(none_header).encode())}.{payload}."
    _assert_unauthenticated(await _me_over_http(http, f"Bearer {forged}"))


@pytest.mark.parametrize("claim", ["issuer", "audience"])
async def test_a_token_for_another_issuer_or_audience_is_refused(
    http: httpx.AsyncClient, world: World, settings: Settings, claim: str
) -> None:
    user_id, _ = await world.user()
    key = load_or_create_signing_key(settings.resolved_jwt_private_key_path)
    home = {"issuer": settings.public_url, "audience": settings.public_url}
    foreign = home | {claim: "https://elsewhere.example"}
    ttl = settings.access_token_ttl_seconds
    accepted = TokenService(key, **home, ttl_seconds=ttl).issue(f"user:{user_id}")
    refused = TokenService(key, **foreign, ttl_seconds=ttl).issue(f"user:{user_id}")
    assert (await _me_over_http(http, f"Bearer {accepted}")).status_code == 200
    _assert_unauthenticated(await _me_over_http(http, f"Bearer {refused}"))


@pytest.mark.parametrize("scheme", ["Basic", "Token", ""])
async def test_a_scheme_other_than_bearer_is_refused(
    http: httpx.AsyncClient, world: World, scheme: str
) -> None:
    _, token = await world.user()
    _assert_unauthenticated(await _me_over_http(http, f"{scheme} {token}".strip()))


async def test_a_bearer_header_without_a_token_is_refused(http: httpx.AsyncClient) -> None:
    _assert_unauthenticated(await _me_over_http(http, "Bearer "))
