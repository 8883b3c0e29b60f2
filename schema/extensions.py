"""Schema extensions: request limits, cached parsing and validation, and errors that always
carry a code and never leak.

An unexpected exception is logged with its trace and the request id, and reaches the client
as ``INTERNAL`` with that request id, so operators can find it and clients learn nothing else.

The depth and alias limits are validation rules built once, at start-up. Strawberry's
``ValidationCache`` keys on the document *and* the tuple of rule classes, and its limiter
extensions build new rule classes on every request, so with them the cache never hits. With
the same classes each time it does, and a refused document is cached with its errors, so a
repeat is refused without running the rules again. The token limit is a parse option: the
parser cache does not keep a document that failed to parse, so it is checked on every request.
Anything that depends on variables (query cost) cannot live in cached validation and does not.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Callable, Iterator
from functools import partial

from graphql import ASTValidationRule, GraphQLError, GraphQLSyntaxError
from strawberry.extensions import (
    AddValidationRules,
    MaxTokensLimiter,
    ParserCache,
    SchemaExtension,
    ValidationCache,
)

from app.config import Settings
from schema.document_limits import document_limits
from schema.errors import ApiErrorCode
from schema.introspection import IntrospectionGate
from schema.observation import OperationMetrics
from schema.throttling import QueryCost

__all__ = ["DOCUMENT_CACHE_SIZE", "DocumentCache", "ErrorCodes", "build_extensions", "limit_rules"]

log = logging.getLogger("agora.graphql")

# Distinct documents whose parse and validation are kept. Bounded, so a client sending ever new
# documents only evicts; a deployment's own queries are far fewer.
DOCUMENT_CACHE_SIZE = 512

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


class DocumentCache(ParserCache):
    """Strawberry's ``ParserCache``, except that a document that fails to parse (a syntax error,
    or over the token limit) is left to strawberry's own parse step.

    ``ParserCache`` lets the parse error escape its hook (strawberry issue 1439), which skips
    every extension's ``on_operation`` exit, so the error would reach the client without its
    code. Parsed here and failing, the document is parsed again by strawberry, which reports
    the error the usual way; only documents that parse are ever cached.
    """

    def on_parse(self) -> Iterator[None]:
        context = self.execution_context
        with contextlib.suppress(GraphQLError):
            context.graphql_document = self.cached_parse_document(
                context.query, **context.parse_options
            )
        yield


def limit_rules(settings: Settings) -> list[type[ASTValidationRule]]:
    """The depth and alias rules, built once so that every request validates with the very same
    classes, which is what lets the validation cache hit."""
    return [document_limits(settings.max_query_depth, settings.max_query_aliases)]


def build_extensions(settings: Settings) -> list[Callable[[], SchemaExtension]]:
    """Factories: strawberry builds a fresh extension per request from each. Tracing, when
    on, is strawberry's synchronous extension: the async one makes every field a coroutine."""
    tracing: list[Callable[[], SchemaExtension]] = []
    if settings.otel_enabled:
        from strawberry.extensions.tracing import OpenTelemetryExtensionSync

        tracing.append(OpenTelemetryExtensionSync)
    # Prod refuses introspection outside partner sandboxes (schema.introspection).
    gate: list[Callable[[], SchemaExtension]] = [] if settings.is_dev else [IntrospectionGate]
    return [
        OperationMetrics,
        *tracing,
        ErrorCodes,
        *gate,
        QueryCost,
        partial(MaxTokensLimiter, max_token_count=settings.max_query_tokens),
        partial(AddValidationRules, limit_rules(settings)),
        partial(DocumentCache, maxsize=DOCUMENT_CACHE_SIZE),
        partial(ValidationCache, maxsize=DOCUMENT_CACHE_SIZE),
    ]
