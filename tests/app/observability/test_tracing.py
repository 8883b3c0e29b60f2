"""OpenTelemetry tracing: off by default, and with ``AGORA_OTEL_ENABLED`` an operation makes
spans (caught here by an in-memory exporter on the global tracer provider)."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from strawberry.extensions.tracing import OpenTelemetryExtensionSync

from app.config import Settings
from app.main import create_app
from app.observability.tracing import configure_tracing
from schema.extensions import build_extensions

pytestmark = pytest.mark.anyio


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    """Spans of the global provider (installed once per process, as the app would)."""
    provider = configure_tracing()
    assert isinstance(provider, TracerProvider)
    exporter = InMemorySpanExporter()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    try:
        yield exporter
    finally:
        exporter.shutdown()


def test_tracing_is_off_by_default() -> None:
    assert OpenTelemetryExtensionSync not in build_extensions(Settings())
    assert OpenTelemetryExtensionSync in build_extensions(Settings(otel_enabled=True))


async def test_an_operation_makes_spans_when_tracing_is_on(
    migrated: str, settings: Settings, exported: InMemorySpanExporter
) -> None:
    app = create_app(settings.model_copy(update={"otel_enabled": True}))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            response = await client.post("/graphql", json={"query": "query Ping { __typename }"})
    assert response.status_code == 200

    names = [span.name for span in exported.get_finished_spans()]
    assert names.count("GraphQL Query: Ping") == 1
    assert "GraphQL Parsing" in names
    assert trace.get_tracer_provider() is configure_tracing()
