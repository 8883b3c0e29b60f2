"""Charging query cost: refused above the per-request maximum before any SQL, charged to the
caller's cost bucket, refunded what it did not use, and reported in ``extensions.cost``.

It runs in ``on_execute``, which strawberry calls on every request, validation-cache hit or
not, so repeating a cached query still pays for it.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

from graphql import ExecutionResult, FragmentDefinitionNode, get_operation_ast
from strawberry.extensions import SchemaExtension

from app.limits.buckets import Decision
from app.limits.policy import ClientLimits, standard_limits
from app.observability.metrics import record_rejection
from app.observability.requests import current_request
from schema.cost import OperationCost, actual_cost, requested_cost
from schema.errors import ApiErrorCode, api_error

__all__ = ["QueryCost"]

log = logging.getLogger("agora.graphql")


def _limits(context: Any) -> ClientLimits:
    """What the HTTP edge looked up for this caller, or the standard limits."""
    found = context.request.scope.get("state", {}).get("limits")
    return found if found is not None else standard_limits(context.services.settings)


def _subject(context: Any) -> str:
    if context.principal is not None:
        return str(context.principal.subject)
    client = context.request.scope.get("client")
    return f"ip:{client[0] if client else 'unknown'}"


def _status(decision: Decision) -> dict[str, Any]:
    return {
        "maximumAvailable": decision.burst,
        "currentlyAvailable": max(0.0, round(decision.remaining, 2)),
        "restoreRate": decision.rate,
    }


class QueryCost(SchemaExtension):
    report: dict[str, Any] | None = None

    async def on_execute(self) -> AsyncIterator[None]:
        execution = self.execution_context
        context = execution.context
        document = execution.graphql_document
        operation = get_operation_ast(document, execution.operation_name) if document else None
        if operation is None:
            yield
            return
        fragments = {
            d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
        }
        walk = OperationCost(execution.schema._schema, operation, fragments, execution.variables)
        requested = requested_cost(walk)
        maximum = context.services.settings.max_query_cost
        limits = _limits(context)
        buckets = context.services.buckets
        key = f"cost:{limits.tier}:{_subject(context)}"
        if requested > maximum:
            record_rejection("cost_exceeded", limits.tier)
            peek = await buckets.take(key, 0, rate=limits.cost_restore, burst=limits.cost_max)
            self.report = self._report(requested, 0, peek)
            execution.result = ExecutionResult(
                data=None,
                errors=[
                    api_error(
                        ApiErrorCode.MAX_COST_EXCEEDED,
                        f"This query costs {requested}; the maximum is {maximum}.",
                        requestedQueryCost=requested,
                        maximumQueryCost=maximum,
                    )
                ],
            )
            yield
            return
        charged = await buckets.take(
            key, requested, rate=limits.cost_restore, burst=limits.cost_max
        )
        if not charged.allowed:
            record_rejection("cost_throttled", limits.tier)
            self.report = self._report(requested, 0, charged)
            execution.result = ExecutionResult(
                data=None,
                errors=[
                    api_error(
                        ApiErrorCode.THROTTLED,
                        "Query cost budget exhausted; retry once it has restored.",
                        retryAfterSeconds=round(charged.retry_after, 2),
                    )
                ],
            )
            yield
            return
        yield
        result = execution.result
        data = getattr(result, "data", None)
        # No data means nothing to measure by (an error took the whole result): refund nothing,
        # since resolvers that ran before it may well have done their work.
        actual = min(actual_cost(walk, data), requested) if data is not None else requested
        settled = charged
        if requested > actual:
            settled = await buckets.take(
                key, actual - requested, rate=limits.cost_restore, burst=limits.cost_max
            )
        self.report = self._report(requested, actual, settled)

    @staticmethod
    def _report(requested: int, actual: int, decision: Decision) -> dict[str, Any]:
        return {
            "requestedQueryCost": requested,
            "actualQueryCost": actual,
            "throttleStatus": _status(decision),
        }

    async def get_results(self) -> dict[str, Any]:
        """Every response reports cost; one that never executed (a syntax or validation error)
        cost nothing and shows the bucket as it stands."""
        if self.report is None:
            context = self.execution_context.context
            if context is None:
                return {}
            limits = _limits(context)
            peek = await context.services.buckets.take(
                f"cost:{limits.tier}:{_subject(context)}",
                0,
                rate=limits.cost_restore,
                burst=limits.cost_max,
            )
            self.report = self._report(0, 0, peek)
        record = current_request()
        if record is not None:  # for the access log
            record.requested_cost = self.report["requestedQueryCost"]
            record.actual_cost = self.report["actualQueryCost"]
        return {"cost": self.report}
