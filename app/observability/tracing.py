"""Optional OpenTelemetry tracing (``AGORA_OTEL_ENABLED``), off by default.

Only when it is on is OpenTelemetry imported, so a deployment without it installed (the
``otel`` extra) loses nothing. Spans go to the global tracer provider: one already set up (by
``opentelemetry-instrument`` or a test) is used as it is; otherwise an SDK provider is installed,
exporting over OTLP when ``opentelemetry-exporter-otlp`` is installed and its standard
``OTEL_EXPORTER_OTLP_*`` variables say where.
"""

from __future__ import annotations

import importlib
import logging
from typing import Any

__all__ = ["configure_tracing"]

log = logging.getLogger("agora.tracing")
_OTLP = "opentelemetry.exporter.otlp.proto.http.trace_exporter"


def configure_tracing(service_name: str = "agora") -> Any:
    """The tracer provider spans are sent to, installing an SDK one if none is set."""
    from opentelemetry import trace
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    current = trace.get_tracer_provider()
    if isinstance(current, TracerProvider):
        return current
    provider = TracerProvider(resource=Resource.create({"service.name": service_name}))
    try:
        exporter = importlib.import_module(_OTLP).OTLPSpanExporter()
    except ImportError:
        log.warning("tracing is on but no OTLP exporter is installed; spans are not exported")
    else:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    return provider
