"""Rate limits, counted, never timed: refill rates are too slow to matter within a test."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from app.config import Settings
from app.limits.buckets import MemoryBuckets
from app.limits.policy import ClientLimits, Priority
from app.limits.shedding import InFlight
from app.main import create_app
from app.security.principal import Principal
from app.web.limits import RateLimits

pytestmark = pytest.mark.anyio

QUERY = {"query": "{ __typename }"}


@pytest.fixture(autouse=True)
def _database(migrated: str) -> str:
    return migrated


SLOW = 0.000_001  # tokens a second: nothing refills during a test


@asynccontextmanager
async def clients(
    settings: Settings, count: int = 1, **limits: Any
) -> AsyncIterator[list[httpx.AsyncClient]]:
    """``count`` app instances sharing the same Redis prefix (or none), each with a client."""
    tuned = settings.model_copy(
        update={"redis_prefix": f"{settings.redis_prefix}{uuid.uuid4().hex[:6]}:", **limits}
    )
    async with AsyncExitStack() as stack:
        made = []
        for _ in range(count):
            app = create_app(tuned)
            await stack.enter_async_context(app.router.lifespan_context(app))
            client = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t")
            made.append(await stack.enter_async_context(client))
        yield made


async def _statuses(instances: list[httpx.AsyncClient], total: int) -> list[int]:
    responses = await asyncio.gather(
        *(instances[i % len(instances)].post("/graphql", json=QUERY) for i in range(total))
    )
    return [r.status_code for r in responses]


@pytest.mark.redis
async def test_two_instances_sharing_redis_allow_exactly_the_burst(settings: Settings) -> None:
    async with clients(settings, 2, rate_limit_burst=20, rate_limit_rate=SLOW) as instances:
        statuses = await _statuses(instances, 45)
    assert statuses.count(200) == 20
    assert statuses.count(429) == 25


async def test_one_instance_in_process_allows_exactly_the_burst(settings: Settings) -> None:
    local = settings.model_copy(update={"redis_url": None})
    async with clients(local, 1, rate_limit_burst=7, rate_limit_rate=SLOW) as instances:
        statuses = await _statuses(instances, 12)
    assert (statuses.count(200), statuses.count(429)) == (7, 5)


async def test_a_throttled_request_says_when_to_retry(settings: Settings) -> None:
    local = settings.model_copy(update={"redis_url": None})
    async with clients(local, 1, rate_limit_burst=2, rate_limit_rate=0.25) as (http,):
        first = await http.post("/graphql", json=QUERY)
        await http.post("/graphql", json=QUERY)
        refused = await http.post("/graphql", json=QUERY)
    assert first.headers["ratelimit-policy"] == '"requests";q=2;w=8'
    assert first.headers["ratelimit"].startswith('"requests";r=1;')
    assert refused.status_code == 429
    assert refused.json()["errors"][0]["extensions"]["code"] == "THROTTLED"
    # One token is missing and 0.25 arrive a second: four seconds, rounded up.
    assert refused.headers["retry-after"] in {"4", "3"}
    assert refused.headers["ratelimit"].startswith('"requests";r=0;')


async def test_health_checks_are_never_throttled(settings: Settings) -> None:
    local = settings.model_copy(update={"redis_url": None})
    async with clients(local, 1, rate_limit_burst=1, rate_limit_rate=SLOW) as (http,):
        statuses = [(await http.get("/healthz")).status_code for _ in range(5)]
    assert statuses == [200] * 5


class Remembered(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


@pytest.mark.parametrize(("fail_open", "allowed"), [(False, 5), (True, 8)])
async def test_unreachable_redis_falls_back_to_a_share_per_process(
    settings: Settings, fail_open: bool, allowed: int
) -> None:
    unreachable = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0"})
    logged = Remembered()
    logging.getLogger("agora.limits").addHandler(logged)
    try:
        async with clients(
            unreachable,
            1,
            rate_limit_burst=10,
            rate_limit_rate=SLOW,
            workers=2,
            rate_limit_fail_open=fail_open,
        ) as (http,):
            statuses = [(await http.post("/graphql", json=QUERY)).status_code for _ in range(8)]
    finally:
        logging.getLogger("agora.limits").removeHandler(logged)
    assert statuses.count(200) == allowed
    assert statuses.count(429) == 8 - allowed
    assert any("Redis unreachable" in m for m in logged.messages)


class Tiered:
    """Limits by subject: the priority is in the subject's name, for the shedding tests."""

    async def limits_for(self, subject: str | None) -> ClientLimits:
        priority = Priority[(subject or "ip:STANDARD").split(":")[1].split("-")[0]]
        return ClientLimits(
            rate=1000, burst=1000, cost_max=1000, cost_restore=1, concurrency=2, priority=priority
        )


class Held:
    """A downstream app whose requests stay in flight until released."""

    def __init__(self) -> None:
        self.release = asyncio.Event()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.release.wait()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})


async def _call(limits: RateLimits, subject: str) -> int:
    scope = {
        "type": "http",
        "path": "/graphql",
        "method": "POST",
        "headers": [],
        "client": ("127.0.0.1", 1),
        "state": {"principal": Principal(subject=subject, token_id="t")},
    }
    statuses: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            statuses.append(message["status"])

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b""}

    await limits(scope, receive, send)  # type: ignore[arg-type]
    return statuses[0]


async def _refused(limits: RateLimits, subject: str) -> int:
    """A request that must be refused at once; one that gets in would hang, so it times out."""
    return await asyncio.wait_for(_call(limits, subject), timeout=5)


async def test_overload_sheds_standard_first_and_strategic_last() -> None:
    held = Held()
    limits = RateLimits(
        held, buckets=MemoryBuckets(), policy=Tiered(), in_flight=InFlight(capacity=10)
    )
    busy: list[asyncio.Task[int]] = []

    async def fill(tier: str, count: int) -> None:
        busy.extend(
            asyncio.create_task(_call(limits, f"app:{tier}-{len(busy)}")) for _ in range(count)
        )
        await asyncio.sleep(0)

    await fill("STANDARD", 5)  # standard may use half of the 10 places
    assert await _refused(limits, "app:STANDARD-late") == 503
    await fill("ADVANCED", 3)  # advanced may use 80 %
    assert limits.in_flight.total == 8
    assert await _refused(limits, "app:ADVANCED-late") == 503
    await fill("STRATEGIC", 2)  # strategic may use all of them
    assert limits.in_flight.total == 10
    assert await _refused(limits, "app:STRATEGIC-late") == 503
    held.release.set()
    assert await asyncio.gather(*busy) == [200] * 10
    assert limits.in_flight.total == 0


async def test_one_principal_cannot_take_more_than_its_concurrency() -> None:
    held = Held()
    limits = RateLimits(
        held, buckets=MemoryBuckets(), policy=Tiered(), in_flight=InFlight(capacity=100)
    )
    busy = [asyncio.create_task(_call(limits, "app:STRATEGIC-greedy")) for _ in range(2)]
    await asyncio.sleep(0)
    assert await _refused(limits, "app:STRATEGIC-greedy") == 429
    busy.append(asyncio.create_task(_call(limits, "app:STRATEGIC-other")))
    await asyncio.sleep(0)
    held.release.set()
    assert await asyncio.gather(*busy) == [200, 200, 200]
