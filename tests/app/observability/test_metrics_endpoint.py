"""``/metrics``: after a few GraphQL requests through the app, the series an operator needs are
there, counted by operation, type, error code and rejection reason. Counts only, never times."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from app.config import Settings
from app.main import create_app
from app.observability.metrics import BoundedLabel, operation_label
from tests.support.factories import World
from tests.support.graphql import GraphQLClient
from tests.support.metrics import scraped, value

pytestmark = pytest.mark.anyio

NAMED = "query ShopName { shop { name } }"


async def test_operations_are_counted_by_name_and_type(
    world: World, gql: GraphQLClient, http: httpx.AsyncClient
) -> None:
    before = {
        "named": value("agora_graphql_requests_total", operation="ShopName", type="query"),
        "timed": value(
            "agora_graphql_request_duration_seconds_count", operation="ShopName", type="query"
        ),
        "anonymous": value("agora_graphql_requests_total", operation="anonymous", type="query"),
        "invalid": value("agora_graphql_errors_total", code="GRAPHQL_VALIDATION_FAILED"),
        "ok": value("agora_http_responses_total", status_class="2xx"),
    }

    for _ in range(2):
        (await gql(NAMED, shop=world.handle)).ok()
    (await gql("{ __typename }", shop=world.handle)).ok()
    assert (await gql("{ noSuchField }", shop=world.handle)).codes == ["GRAPHQL_VALIDATION_FAILED"]

    response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    samples = scraped(response.text)

    def delta(key: str, name: str, **labels: str) -> float:
        return samples[(name, frozenset(labels.items()))] - before[key]

    assert delta("named", "agora_graphql_requests_total", operation="ShopName", type="query") == 2
    assert (
        delta(
            "timed",
            "agora_graphql_request_duration_seconds_count",
            operation="ShopName",
            type="query",
        )
        == 2
    )
    assert (
        delta("anonymous", "agora_graphql_requests_total", operation="anonymous", type="query") >= 1
    )
    assert delta("invalid", "agora_graphql_errors_total", code="GRAPHQL_VALIDATION_FAILED") == 1
    assert delta("ok", "agora_http_responses_total", status_class="2xx") == 4


async def test_every_listed_series_is_exported(world: World, http: httpx.AsyncClient) -> None:
    text = (await http.get("/metrics")).text
    families = {family.name for family in text_string_to_metric_families(text)}
    assert {
        "agora_graphql_requests",
        "agora_graphql_request_duration_seconds",
        "agora_graphql_errors",
        "agora_http_responses",
        "agora_rejections",
        "agora_db_connections_in_use",
        "agora_outbox_lag_seconds",
        "agora_webhook_deliveries",
        "agora_settlement_duration_seconds",
        "agora_settlement_failures",
        "agora_payout_run_duration_seconds",
        "agora_payout_failures",
        "agora_rate_limit_fallback_active",
        "agora_rate_limit_fallback_decisions",
    } <= families
    samples = scraped(text)
    # Measured at scrape time, so present after any scrape.
    assert ("agora_outbox_lag_seconds", frozenset({("stage", "routing")})) in samples
    assert ("agora_outbox_lag_seconds", frozenset({("stage", "delivery")})) in samples


async def test_a_scrape_is_neither_counted_nor_rejected(http: httpx.AsyncClient) -> None:
    before = value("agora_http_responses_total", status_class="2xx")
    for _ in range(3):
        assert (await http.get("/metrics")).status_code == 200
    assert value("agora_http_responses_total", status_class="2xx") == before


def test_operation_labels_stay_bounded() -> None:
    assert operation_label(None) == "anonymous"
    assert operation_label("x" * 200) == "other"
    names = BoundedLabel(r"[A-Za-z]+", capacity=3)
    assert [names(n) for n in ("A", "B", "A", "C", "D", "B", "no-shape")] == [
        "A",
        "B",
        "A",
        "C",
        "other",
        "B",
        "other",
    ]


@asynccontextmanager
async def _client(settings: Settings, **tuned: Any) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(
        settings.model_copy(
            update={"redis_prefix": f"{settings.redis_prefix}{uuid.uuid4().hex[:6]}:", **tuned}
        )
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            yield client


async def test_rejections_are_counted_by_reason_and_tier(migrated: str, settings: Settings) -> None:
    throttled = value("agora_rejections_total", reason="rate_limit", tier="default")
    too_costly = value("agora_rejections_total", reason="cost_exceeded", tier="default")

    async with _client(settings, rate_limit_burst=2, rate_limit_rate=0.000_001) as client:
        statuses = [
            (await client.post("/graphql", json={"query": "{ __typename }"})).status_code
            for _ in range(4)
        ]
    assert statuses == [200, 200, 429, 429]
    async with _client(settings, max_query_cost=1) as client:
        body = (
            await client.post(
                "/graphql", json={"query": "{ products(first: 5) { edges { node { title } } } }"}
            )
        ).json()
    assert body["errors"][0]["extensions"]["code"] == "MAX_COST_EXCEEDED"

    assert value("agora_rejections_total", reason="rate_limit", tier="default") - throttled == 2
    assert value("agora_rejections_total", reason="cost_exceeded", tier="default") - too_costly == 1
