"""Personal data through HTTP: clear for its owner, for the shop's business staff (pii:read)
and for apps granted customers:read_pii; masked for everyone else. No raw value in errors or
logs. And a walk over the whole schema that fails on any personal-data field left unmarked."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from typing import Any

import pytest
from graphql import GraphQLInterfaceType, GraphQLObjectType, get_named_type, is_leaf_type

from app.security.masking import personal_kind
from app.security.rbac import assign_role, shop_domain
from schema import build_schema
from schema.personal_data import mask_kind_of
from tests.support.factories import World, unique
from tests.support.graphql import GraphQLClient

pytestmark = pytest.mark.anyio

PHONE = "+86 138 1234 5678"
REGISTER = """
mutation Register($input: CustomerRegisterInput!) {
  customerRegister(input: $input) { user { id email phone } errors { code field message } }
}
"""
LOGIN = """
mutation Login($e: String!, $p: String!) {
  tokenCreate(email: $e, password: $p) { accessToken user { email phone } errors { code } }
}
"""


def _input(email: str, phone: str = PHONE) -> Any:
    return {"input": {"email": email, "password": "correct horse battery", "phone": phone}}


async def _register(gql: GraphQLClient, world: World, token: str | None = None) -> Any:
    email = f"{unique('ann')}@example.com"
    result = await gql(REGISTER, _input(email), shop=world.handle, token=token)
    payload = result.ok()["customerRegister"]
    assert payload["errors"] == []
    return email, payload["user"]


async def test_the_owner_reads_their_own_email_and_phone_in_clear(
    gql: GraphQLClient, world: World
) -> None:
    email = f"{unique('ann')}@example.com"
    _, token = await world.user(email=email, phone=PHONE)
    me = (await gql("{ me { email phone } }", token=token)).ok()["me"]
    assert me == {"email": email, "phone": "+8613812345678"}


async def test_logging_in_shows_the_user_their_own_data(gql: GraphQLClient, world: World) -> None:
    email = f"{unique('ann')}@example.com"
    await world.user(email=email, phone=PHONE)
    login = (await gql(LOGIN, {"e": email, "p": "correct horse battery"})).ok()["tokenCreate"]
    assert login["user"] == {"email": email, "phone": "+8613812345678"}


@pytest.mark.parametrize(
    "caller",
    ["anonymous", "shopper of the shop", "business of another shop", "shopper with other scopes"],
)
async def test_callers_without_a_right_to_it_see_it_masked(
    gql: GraphQLClient, world: World, other_world: World, caller: str
) -> None:
    token = None
    if caller == "shopper of the shop":
        _, token = await world.user("shopper")
    elif caller == "business of another shop":
        _, token = await other_world.user("business")
    elif caller == "shopper with other scopes":
        user_id, _ = await world.user("shopper")
        token = world.services.tokens.issue(f"user:{user_id}", scope="goods:read trade:read")
    _, user = await _register(gql, world, token)
    assert user["email"] == "a***@example.com"
    assert user["phone"] == "+861****5678"


async def test_the_shops_business_staff_see_customers_in_clear(
    gql: GraphQLClient, world: World
) -> None:
    _, token = await world.user("business")
    email, user = await _register(gql, world, token)
    assert (user["email"], user["phone"]) == (email, "+8613812345678")


async def test_business_elsewhere_is_not_business_here(
    gql: GraphQLClient, world: World, other_world: World
) -> None:
    # Holds pii:read in other_world, and a shopper role here: masked here.
    user_id, token = await other_world.user("business")
    async with world.services.db.writer() as session, session.begin():
        await assign_role(session, f"user:{user_id}", "shopper", shop_domain(world.shop.id))
    _, user = await _register(gql, world, token)
    assert user["email"] == "a***@example.com"


async def test_an_app_installed_with_customers_read_pii_sees_it_in_clear(
    gql: GraphQLClient, world: World, other_world: World
) -> None:
    def install_token(shop_id: int) -> str:
        return world.services.tokens.issue(
            "app:agc_test", scope="customers:read_pii", extra={"shop": shop_id}
        )

    email, user = await _register(gql, world, install_token(world.shop.id))
    assert (user["email"], user["phone"]) == (email, "+8613812345678")
    # Installed in another shop, the token reaches nothing here at all.
    refused = await gql(
        REGISTER,
        _input(f"{unique('ann')}@example.com"),
        shop=world.handle,
        token=install_token(other_world.shop.id),
    )
    assert refused.codes == ["FORBIDDEN"]
    assert refused.data == {"customerRegister": None}


async def test_a_scope_claim_on_a_users_token_grants_nothing(
    gql: GraphQLClient, world: World
) -> None:
    user_id, _ = await world.user()
    token = world.services.tokens.issue(f"user:{user_id}", scope="customers:read_pii")
    _, user = await _register(gql, world, token)
    assert "***" in user["email"] and "****" in user["phone"]


async def test_refusals_never_echo_the_raw_email_or_phone(gql: GraphQLClient, world: World) -> None:
    email = f"{unique('taken')}@example.com"
    await world.user(email=email)
    taken = await gql(REGISTER, _input(email.upper()), shop=world.handle)
    bad_phone = await gql(
        REGISTER, _input(f"{unique('x')}@example.com", phone="555 0100 x"), shop=world.handle
    )
    assert taken.ok()["customerRegister"]["errors"][0]["code"] == "EMAIL_TAKEN"
    assert bad_phone.ok()["customerRegister"]["errors"][0]["field"] == ["phone"]
    assert email not in str(taken.body).lower()
    assert "555 0100" not in str(bad_phone.body)


@pytest.fixture
def agora_logs(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    with caplog.at_level(logging.INFO, logger="agora"):
        logging.getLogger("agora").propagate = True
        try:
            yield caplog
        finally:
            logging.getLogger("agora").propagate = False


async def test_a_refused_login_is_logged_without_the_address(
    gql: GraphQLClient, world: World, agora_logs: pytest.LogCaptureFixture
) -> None:
    email = f"{unique('mallory')}@example.com"
    await world.user(email=email)
    refused = (await gql(LOGIN, {"e": email, "p": "a wrong password"})).ok()["tokenCreate"]
    assert refused["errors"][0]["code"] == "INVALID_CREDENTIALS"

    [record] = [r for r in agora_logs.records if r.getMessage() == "login refused"]
    assert record.email == "m***@example.com"  # type: ignore[attr-defined]
    assert email not in agora_logs.text
    assert email not in str([vars(r) for r in agora_logs.records])


async def test_a_crash_trace_is_logged_without_raw_values(
    agora_logs: pytest.LogCaptureFixture,
) -> None:
    log = logging.getLogger("agora.test")
    try:
        raise RuntimeError("cannot reach ann.lee@example.com at +86 138 1234 5678")
    except RuntimeError:
        log.exception("while notifying %s", "ann.lee@example.com", extra={"phone": PHONE})
    # exc_info keeps the live exception for handlers; everything that renders it is redacted.
    fields = [{k: v for k, v in vars(r).items() if k != "exc_info"} for r in agora_logs.records]
    logged = agora_logs.text + str(fields)
    assert "ann.lee@example.com" not in logged
    assert "1234 5678" not in logged
    assert "a***@example.com" in agora_logs.text


# --- the schema walk -------------------------------------------------------------------------


def _leaf_fields() -> Iterator[tuple[str, str, Any]]:
    schema = build_schema()
    for type_name, graphql_type in schema._schema.type_map.items():
        if type_name.startswith("__") or not isinstance(
            graphql_type, GraphQLObjectType | GraphQLInterfaceType
        ):
            continue
        for field_name, field in graphql_type.fields.items():
            if is_leaf_type(get_named_type(field.type)):
                yield type_name, field_name, (field.extensions or {}).get("strawberry-definition")


def test_every_personal_data_field_in_the_schema_is_marked() -> None:
    personal = [(t, f, d) for t, f, d in _leaf_fields() if personal_kind(f) is not None]
    unmarked = [f"{t}.{f}" for t, f, d in personal if mask_kind_of(d) != personal_kind(f)]
    assert ("User", "email") in {(t, f) for t, f, _ in personal}
    assert ("User", "phone") in {(t, f) for t, f, _ in personal}
    assert unmarked == [], f"personal data without @personalData: {unmarked}"
