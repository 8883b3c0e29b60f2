"""Tier quotas, counted not timed: an app is limited by its partner's tier, and a tier change
reaches its very next request, with no restart."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import anyio
import httpx
import pytest
from sqlalchemy import select, update
from starlette.applications import Starlette

from app.main import create_app
from marketplace.models import Tier, TierPolicy
from tests.support.clock import MutableClock
from tests.support.factories import World, gid
from tests.support.graphql import GraphQLClient
from tests.support.installing import app_token
from tests.support.marketplace import make_app, make_partner

pytestmark = pytest.mark.anyio

# No token refills during a test at these rates.
SLOW = 0.0001
PING = {"query": "{ __typename }"}


@dataclass
class Policies:
    world: World

    async def set(self, tier: Tier, **values: Any) -> None:
        async with self.world.services.db.writer() as session, session.begin():
            await session.execute(
                update(TierPolicy).where(TierPolicy.tier == tier).values(**values)
            )
        await self.world.services.marketplace.announce_tier_change()


@pytest.fixture
async def policies(world: World) -> AsyncIterator[Policies]:
    """Tier policy rows are shared by the whole suite: whatever a test changes comes back."""
    async with world.services.db.reader() as session:
        saved = {
            row.tier: (row.rate, row.burst, row.daily_calls)
            for row in await session.scalars(select(TierPolicy))
        }
    policies = Policies(world)
    yield policies
    for tier, (rate, burst, daily) in saved.items():
        await policies.set(tier, rate=rate, burst=burst, daily_calls=daily)


async def _statuses(http: httpx.AsyncClient, token: str, count: int) -> list[int]:
    headers = {"authorization": f"Bearer {token}"}
    return [
        (await http.post("/graphql", json=PING, headers=headers)).status_code for _ in range(count)
    ]


async def _admin(world: World) -> str:
    return (await world.user("community_admin", domain="platform"))[1]


PROMOTE = 'mutation($p: ID!) { partnerTierChange(partnerId: $p, tier: ADVANCED, reason: "Volume") { partner { tier } errors { code } } }'


async def test_a_promotion_reaches_the_next_request(
    world: World, http: httpx.AsyncClient, gql: GraphQLClient, policies: Policies
) -> None:
    await policies.set(Tier.STANDARD, rate=SLOW, burst=20)
    await policies.set(Tier.ADVANCED, rate=SLOW, burst=100)
    partner, _ = await make_partner(world)
    _, credentials = await make_app(world, partner)
    token = await app_token(http, credentials)

    statuses = await _statuses(http, token, 21)
    assert statuses.count(429) == 1 and statuses[-1] == 429

    promoted = (await gql(PROMOTE, {"p": gid("Partner", partner)}, token=await _admin(world))).ok()
    assert promoted["partnerTierChange"] == {"partner": {"tier": "ADVANCED"}, "errors": []}

    assert await _statuses(http, token, 100) == [200] * 100
    assert (await _statuses(http, token, 1)) == [429]


async def test_the_daily_quota_rolls_over_at_midnight_utc(
    world: World, http: httpx.AsyncClient, clock: MutableClock, policies: Policies
) -> None:
    await policies.set(Tier.STANDARD, daily_calls=3)
    partner, _ = await make_partner(world)
    _, credentials = await make_app(world, partner)
    token = await app_token(http, credentials)
    headers = {"authorization": f"Bearer {token}"}

    assert await _statuses(http, token, 3) == [200, 200, 200]
    refused = await http.post("/graphql", json=PING, headers=headers)
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["extensions"]["code"] == "DAILY_QUOTA_EXCEEDED"
    assert 0 < int(refused.headers["retry-after"]) <= 86_400

    clock.advance(86_400)
    # A new day, and a new token (the first one expired meanwhile): the quota is back.
    assert await _statuses(http, await app_token(http, credentials), 1) == [200]


QUOTA = "query($a: ID!) { app(appId: $a) { quota { tier ratePerSecond burst dailyLimit usedToday costBucket { maximumAvailable } } } }"


async def test_an_app_reports_its_quota_and_use(
    world: World, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    partner, owner = await make_partner(world)
    app, credentials = await make_app(world, partner)
    token = await app_token(http, credentials)
    await _statuses(http, token, 4)
    quota = (await gql(QUOTA, {"a": gid("App", app.id)}, token=owner)).ok()["app"]["quota"]
    assert quota["tier"] == "standard"
    assert quota["dailyLimit"] == 50_000 and quota["usedToday"] == 4
    assert quota["burst"] == 20 and quota["costBucket"]["maximumAvailable"] == 1000


SUSPEND = (
    "mutation($p: ID!) { partnerSuspend(partnerId: $p) { partner { status } errors { code } } }"
)
REINSTATE = (
    "mutation($p: ID!) { partnerReinstate(partnerId: $p) { partner { status } errors { code } } }"
)


async def test_a_suspended_partners_apps_are_refused_until_reinstated(
    world: World, http: httpx.AsyncClient, gql: GraphQLClient
) -> None:
    partner, _ = await make_partner(world)
    _, credentials = await make_app(world, partner)
    token = await app_token(http, credentials)
    admin = await _admin(world)

    (await gql(SUSPEND, {"p": gid("Partner", partner)}, token=admin)).ok()
    refused = await http.post("/graphql", json=PING, headers={"authorization": f"Bearer {token}"})
    assert refused.status_code == 403
    assert refused.json()["errors"][0]["extensions"]["code"] == "PARTNER_SUSPENDED"
    fresh = await http.post(
        "/oauth/token",
        data={"grant_type": "client_credentials"},
        auth=(credentials.client_id, credentials.client_secret),
    )
    assert fresh.status_code in (400, 401) and fresh.json()["error"] == "invalid_client"

    (await gql(REINSTATE, {"p": gid("Partner", partner)}, token=admin)).ok()
    assert await _statuses(http, token, 1) == [200]


@pytest.mark.redis
async def test_on_redis_two_instances_share_the_bucket_and_the_promotion(
    world: World, settings: Any, clock: MutableClock, gql: GraphQLClient, policies: Policies
) -> None:
    await policies.set(Tier.STANDARD, rate=SLOW, burst=20)
    await policies.set(Tier.ADVANCED, rate=SLOW, burst=100)
    partner, _ = await make_partner(world)
    _, credentials = await make_app(world, partner)
    other: Starlette = create_app(settings, clock=clock)
    async with other.router.lifespan_context(other):
        second = httpx.AsyncClient(transport=httpx.ASGITransport(app=other), base_url="http://b")
        first = gql.http
        token = await app_token(first, credentials)
        # Both instances listen for announcements before the promotion is made.
        await other.state.services.rate_policy.limits_for(f"app:{credentials.client_id}")
        statuses = []
        for i in range(21):
            statuses += await _statuses(first if i % 2 else second, token, 1)
        assert statuses.count(429) == 1

        (await gql(PROMOTE, {"p": gid("Partner", partner)}, token=await _admin(world))).ok()
        await _wait_for_invalidation(other, credentials.client_id)
        passed = []
        for i in range(100):
            passed += await _statuses(first if i % 2 else second, token, 1)
        assert passed == [200] * 100
        await second.aclose()


async def _wait_for_invalidation(app: Starlette, client_id: str) -> None:
    """The announcement travels through Redis: wait (bounded) until the instance sees the tier."""
    with anyio.fail_after(10):
        while (
            await app.state.services.rate_policy.limits_for(f"app:{client_id}")
        ).tier != "advanced":
            await anyio.sleep(0.02)
