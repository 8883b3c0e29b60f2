"""The access log: one JSON line per request with who, what, how much SQL and cost; and a
WARNING for a slow operation (the threshold set to 0 makes every request slow)."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator

import httpx
import orjson
import pytest

from app.config import Settings
from app.logs import JsonFormatter
from app.main import create_app
from tests.support.factories import World
from tests.support.graphql import GraphQLClient
from tests.support.sql import StatementCounter

pytestmark = pytest.mark.anyio

KEYS = {
    "request_id",
    "operation",
    "operation_type",
    "principal_kind",
    "principal_id",
    "duration_ms",
    "sql_statements",
    "requested_cost",
    "actual_cost",
    "status",
}


class Lines(logging.Handler):
    """The ``agora.requests`` records, formatted as production writes them."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(JsonFormatter())
        self.lines: list[dict[str, object]] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(orjson.loads(self.format(record)))


@pytest.fixture
def access_log() -> Iterator[Lines]:
    logger = logging.getLogger("agora.requests")
    lines = Lines()
    logger.addHandler(lines)
    try:
        yield lines
    finally:
        logger.removeHandler(lines)


async def test_each_request_is_one_json_line_with_what_it_did(
    world: World, gql: GraphQLClient, access_log: Lines, statements: StatementCounter
) -> None:
    user_id, token = await world.user("business")
    request_id = uuid.uuid4().hex
    statements.reset()

    await gql(
        "query Products { products(first: 3) { edges { node { category { name } } } } }",
        shop=world.handle,
        token=token,
        headers={"x-request-id": request_id},
    )

    (line,) = [entry for entry in access_log.lines if entry["request_id"] == request_id]
    assert line.keys() >= KEYS
    assert line["level"] == "INFO"
    assert line["message"] == "request"
    assert (line["operation"], line["operation_type"]) == ("Products", "query")
    assert (line["principal_kind"], line["principal_id"]) == ("user", str(user_id))
    assert line["status"] == 200
    assert line["sql_statements"] == statements.count > 0
    assert line["requested_cost"] == 2 + 3 * 1  # a connection, and each node's category
    assert line["actual_cost"] is not None


async def test_an_anonymous_refusal_is_logged_with_its_status(
    http: httpx.AsyncClient, access_log: Lines
) -> None:
    await http.post("/graphql", json={"query": "{ __typename }"}, headers={"authorization": "x"})

    (line,) = access_log.lines
    assert line["status"] == 401
    assert (line["principal_kind"], line["principal_id"]) == ("anonymous", None)
    assert line["sql_statements"] == 0


async def test_probes_are_not_logged(http: httpx.AsyncClient, access_log: Lines) -> None:
    await http.get("/healthz")
    await http.get("/metrics")
    assert access_log.lines == []


async def test_a_request_over_the_slow_threshold_is_a_warning(
    migrated: str, settings: Settings, access_log: Lines
) -> None:
    app = create_app(settings.model_copy(update={"slow_operation_ms": 0}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            await client.post("/graphql", json={"query": "query Ping { __typename }"})

    request, slow = access_log.lines
    assert (request["level"], slow["level"]) == ("INFO", "WARNING")
    assert slow["message"] == "slow operation"
    assert slow["operation"] == "Ping"
    assert slow["threshold_ms"] == 0
    assert slow["request_id"] == request["request_id"]


async def test_below_the_threshold_there_is_no_warning(
    http: httpx.AsyncClient, access_log: Lines
) -> None:
    await http.post("/graphql", json={"query": "{ __typename }"})
    assert [line["level"] for line in access_log.lines] == ["INFO"]
