"""Measuring each GraphQL operation: its count and duration by name and type, its errors by code.

It is the first extension, so its ``on_operation`` exits last, after ``ErrorCodes`` has given
every error its code. Its hooks are synchronous and it has no per-field hook, so it adds
nothing to resolving big lists (DESIGN.md, "No N+1"). What it learns also goes to the
request's record, for the access log the HTTP edge writes.
"""

from __future__ import annotations

from collections.abc import Iterator
from time import perf_counter

from graphql import OperationDefinitionNode, get_operation_ast
from strawberry.extensions import SchemaExtension

from app.observability.metrics import (
    GRAPHQL_DURATION,
    GRAPHQL_ERRORS,
    GRAPHQL_REQUESTS,
    error_code_label,
    operation_label,
)
from app.observability.requests import current_request

__all__ = ["OperationMetrics"]

# A document that did not parse, or names no operation it holds, has no name or type to tell.
UNPARSED = "invalid"
UNKNOWN_TYPE = "unknown"
MAX_LOGGED_NAME = 200


class OperationMetrics(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        started = perf_counter()
        yield
        elapsed = perf_counter() - started
        name, kind = self._operation()
        label = UNPARSED if kind == UNKNOWN_TYPE else operation_label(name)
        GRAPHQL_REQUESTS.labels(operation=label, type=kind).inc()
        GRAPHQL_DURATION.labels(operation=label, type=kind).observe(elapsed)
        result = self.execution_context.result
        codes = [
            error_code_label((error.extensions or {}).get("code"))
            for error in (getattr(result, "errors", None) or ())
        ]
        for code in codes:
            GRAPHQL_ERRORS.labels(code=code).inc()
        record = current_request()
        if record is not None:  # the log has no cardinality to fear: the name as sent
            record.operation, record.operation_type = name, kind
            record.error_codes.extend(codes)

    def _operation(self) -> tuple[str | None, str]:
        """The operation's own name (None when it has none, capped in length) and type."""
        context = self.execution_context
        document = context.graphql_document
        if document is None:
            return None, UNKNOWN_TYPE
        operation = get_operation_ast(document, context.operation_name)
        if not isinstance(operation, OperationDefinitionNode):
            return None, UNKNOWN_TYPE
        name = operation.name.value[:MAX_LOGGED_NAME] if operation.name else None
        return name, operation.operation.value
