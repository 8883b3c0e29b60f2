"""The access log, the HTTP response counter, and the ``/metrics`` endpoint.

``RequestObservation`` sits just inside ``RequestContext`` (which gives the request its id and
masks crashes). It opens the request's ``RequestRecord``, which the GraphQL layer and the SQL
counter fill in, and writes one JSON-ready log line per request from it, plus a WARNING for one
slower than ``AGORA_SLOW_OPERATION_MS``. Probes and scrapes (``QUIET_PATHS``) are neither logged
nor counted: they come every few seconds and say nothing about traffic.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Sequence
from time import perf_counter
from typing import Any

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.observability.exposition import CONTENT_TYPE, render
from app.observability.metrics import HTTP_RESPONSES
from app.observability.requests import RequestRecord, observing

__all__ = ["QUIET_PATHS", "MetricsEndpoint", "RequestObservation"]

log = logging.getLogger("agora.requests")

QUIET_PATHS = frozenset({"/healthz", "/readyz", "/metrics"})

Probe = Callable[[], Awaitable[None]]


def _principal(scope: Scope) -> tuple[str, str | None]:
    principal = scope.get("state", {}).get("principal")
    if principal is None:
        return "anonymous", None
    kind, _, ident = str(principal.subject).partition(":")
    return kind, ident or None


class RequestObservation:
    def __init__(self, app: ASGIApp, *, slow_operation_ms: int) -> None:
        self.app = app
        self.slow_operation_ms = slow_operation_ms

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["path"] in QUIET_PATHS:
            await self.app(scope, receive, send)
            return
        record = RequestRecord(request_id=str(scope.get("state", {}).get("request_id", "")))
        status = 500  # unless a response starts: a crash is answered 500 outside

        async def observed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        started = perf_counter()
        try:
            with observing(record):
                await self.app(scope, receive, observed_send)
        finally:
            duration_ms = (perf_counter() - started) * 1000
            HTTP_RESPONSES.labels(status_class=f"{status // 100}xx").inc()
            self._log(scope, record, status, duration_ms)

    def _log(self, scope: Scope, record: RequestRecord, status: int, duration_ms: float) -> None:
        kind, ident = _principal(scope)
        entry: dict[str, Any] = {
            "request_id": record.request_id,
            "method": scope.get("method"),
            "path": scope["path"],
            "operation": record.operation,
            "operation_type": record.operation_type,
            "principal_kind": kind,
            "principal_id": ident,
            "duration_ms": round(duration_ms, 1),
            "sql_statements": record.sql_statements,
            "requested_cost": record.requested_cost,
            "actual_cost": record.actual_cost,
            "status": status,
            "error_codes": record.error_codes,
        }
        log.info("request", extra=entry)
        if duration_ms >= self.slow_operation_ms:
            log.warning("slow operation", extra={**entry, "threshold_ms": self.slow_operation_ms})


class MetricsEndpoint:
    """``GET /metrics`` (route ``respond``): runs the scrape-time probes (a failing one is
    logged and skipped, so a database that is down never hides the other series), then renders
    every series."""

    def __init__(self, probes: Sequence[Probe] = ()) -> None:
        self.probes = tuple(probes)

    async def respond(self, _: Request) -> Response:
        for probe in self.probes:
            try:
                await probe()
            except Exception:
                log.exception("a metrics probe failed", extra={"probe": type(probe).__name__})
        return Response(render(), media_type=CONTENT_TYPE)
