"""Ops can lift or lower one principal's rate limit for a while; it is audited and applies at once."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import func, select
from starlette.applications import Starlette

from app.limits.overrides import RateLimitOverride
from app.security.audit import AuditEvent
from tests.support.factories import World
from tests.support.graphql import GraphQLClient

pytestmark = pytest.mark.anyio

SET = """mutation($input: RateLimitOverrideInput!) { rateLimitOverrideSet(input: $input) {
  override { principal rate burst } errors { field code } } }"""


def _input(principal: str, burst: int = 3, days: float = 1) -> dict[str, object]:
    expires = datetime.now(UTC) + timedelta(days=days)
    return {
        "principal": principal,
        "rate": 0.000001,
        "burst": burst,
        "expiresAt": expires.isoformat(),
    }


async def _applied(app: Starlette, subject: str, burst: int) -> None:
    while (await app.state.rate_policy.limits_for(subject)).burst != burst:
        await asyncio.sleep(0.01)


async def test_ops_sets_an_override_that_applies_at_once_and_is_audited(
    app: Starlette, world: World, gql: GraphQLClient
) -> None:
    _, ops = await world.user("ops", domain="platform")
    user_id, token = await world.user("shopper")
    subject = f"user:{user_id}"
    result = (await gql(SET, {"input": _input(subject)}, token=ops)).ok()["rateLimitOverrideSet"]
    assert result == {
        "override": {"principal": subject, "rate": 0.000001, "burst": 3},
        "errors": [],
    }
    await asyncio.wait_for(_applied(app, subject, 3), timeout=2)

    statuses = [(await gql("{ __typename }", token=token)).status for _ in range(5)]
    assert statuses == [200, 200, 200, 429, 429]
    assert (await gql("{ __typename }", token=ops)).status == 200

    async with app.state.services.db.reader() as session:
        audited = await session.scalar(
            select(func.count())
            .select_from(AuditEvent)
            .where(AuditEvent.action == "rateLimitOverrideSet")
        )
    assert audited >= 1


@pytest.mark.parametrize(
    ("role", "domain"),
    [("business", None), ("finance", "platform"), ("community_admin", "platform")],
)
async def test_only_ops_may_override(
    world: World, gql: GraphQLClient, role: str, domain: str | None
) -> None:
    _, token = await world.user(role, domain=domain)
    assert (await gql(SET, {"input": _input("user:1")}, token=token)).codes == ["FORBIDDEN"]
    assert (await gql(SET, {"input": _input("user:1")})).codes == ["FORBIDDEN"]


@pytest.mark.parametrize(
    ("principal", "burst", "days", "field"),
    [
        ("somebody", 3, 1, "principal"),
        ("user:7", 0, 1, "burst"),
        ("user:7", 3, 31, "expiresAt"),
        ("user:7", 3, -1, "expiresAt"),
    ],
)
async def test_bad_overrides_are_refused_and_nothing_is_written(
    app: Starlette,
    world: World,
    gql: GraphQLClient,
    principal: str,
    burst: int,
    days: float,
    field: str,
) -> None:
    _, ops = await world.user("ops", domain="platform")
    async with app.state.services.db.reader() as session:
        before = await session.scalar(select(func.count()).select_from(RateLimitOverride))
    result = (await gql(SET, {"input": _input(principal, burst, days)}, token=ops)).ok()[
        "rateLimitOverrideSet"
    ]
    assert result["override"] is None
    assert result["errors"] == [{"field": ["input", field], "code": "INVALID"}]
    async with app.state.services.db.reader() as session:
        assert await session.scalar(select(func.count()).select_from(RateLimitOverride)) == before
