"""Schema extensions: request limits, and errors that always carry a code and never leak.

An unexpected exception is logged with its trace and the request id, and reaches the client
as ``INTERNAL`` with that request id, so operators can find it and clients learn nothing else.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator

from graphql import GraphQLError, GraphQLSyntaxError
from strawberry.extensions import (
    MaxAliasesLimiter,
    MaxTokensLimiter,
    QueryDepthLimiter,
    SchemaExtension,
)

from app.config import Settings
from schema.errors import ApiErrorCode

__all__ = ["ErrorCodes", "build_extensions"]

log = logging.getLogger("agora.graphql")

_LIMIT_MESSAGES = (
    (re.compile(r"Document contains more than \d+ tokens"), ApiErrorCode.MAX_TOKENS_EXCEEDED),
    (re.compile(r"exceeds maximum operation depth"), ApiErrorCode.MAX_DEPTH_EXCEEDED),
    (re.compile(r"aliases found\. Allowed"), ApiErrorCode.MAX_ALIASES_EXCEEDED),
)


def _code_for_plain(error: GraphQLError) -> ApiErrorCode:
    for pattern, code in _LIMIT_MESSAGES:
        if pattern.search(error.message):
            return code
    if isinstance(error, GraphQLSyntaxError):
        return ApiErrorCode.GRAPHQL_PARSE_FAILED
    return ApiErrorCode.GRAPHQL_VALIDATION_FAILED


class ErrorCodes(SchemaExtension):
    def on_operation(self) -> Iterator[None]:
        yield
        result = self.execution_context.result
        if result is None or not result.errors:
            return
        result.errors = [self._with_code(error) for error in result.errors]

    def _with_code(self, error: GraphQLError) -> GraphQLError:
        if error.extensions and "code" in error.extensions:
            return error
        original = error.original_error
        if original is None or isinstance(original, GraphQLError):
            inner = original if isinstance(original, GraphQLError) else error
            if inner.extensions and "code" in inner.extensions:
                error.extensions = {**(error.extensions or {}), **inner.extensions}
                return error
            error.extensions = {**(error.extensions or {}), "code": _code_for_plain(inner).value}
            return error
        request_id = getattr(self.execution_context.context, "request_id", None)
        log.error(
            "unexpected error in GraphQL operation",
            exc_info=original,
            extra={"request_id": request_id, "path": error.path},
        )
        return GraphQLError(
            "Internal server error.",
            nodes=error.nodes,
            path=error.path,
            extensions={"code": ApiErrorCode.INTERNAL.value, "requestId": request_id},
        )


def build_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Factories: strawberry builds a fresh extension per request from each."""
    return [
        ErrorCodes,
        lambda: MaxTokensLimiter(max_token_count=settings.max_query_tokens),
        lambda: QueryDepthLimiter(max_depth=settings.max_query_depth),
        lambda: MaxAliasesLimiter(max_alias_count=settings.max_query_aliases),
    ]
