"""Errors as the API shows them.

Top-level errors carry ``extensions.code`` (UNAUTHENTICATED, FORBIDDEN, NOT_FOUND, BAD_REQUEST,
PAGE_SIZE_EXCEEDED, INVALID_CURSOR, ...). Mutations put what the caller can fix into their
payload's ``errors`` list instead, as a per-domain ``UserError`` with a code from that domain.
"""

from __future__ import annotations

import enum
from typing import Any

import strawberry
from graphql import GraphQLError

from app.errors import DomainError

__all__ = ["ApiErrorCode", "UserError", "api_error", "user_errors"]


class ApiErrorCode(enum.StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    BAD_REQUEST = "BAD_REQUEST"
    METHOD_NOT_ALLOWED = "METHOD_NOT_ALLOWED"
    NOT_ACCEPTABLE = "NOT_ACCEPTABLE"
    BAD_USER_INPUT = "BAD_USER_INPUT"
    SHOP_REQUIRED = "SHOP_REQUIRED"
    PAGE_SIZE_EXCEEDED = "PAGE_SIZE_EXCEEDED"
    INVALID_CURSOR = "INVALID_CURSOR"
    MAX_COST_EXCEEDED = "MAX_COST_EXCEEDED"
    THROTTLED = "THROTTLED"
    MAX_TOKENS_EXCEEDED = "MAX_TOKENS_EXCEEDED"
    MAX_DEPTH_EXCEEDED = "MAX_DEPTH_EXCEEDED"
    MAX_ALIASES_EXCEEDED = "MAX_ALIASES_EXCEEDED"
    GRAPHQL_PARSE_FAILED = "GRAPHQL_PARSE_FAILED"
    GRAPHQL_VALIDATION_FAILED = "GRAPHQL_VALIDATION_FAILED"
    INTROSPECTION_DISABLED = "INTROSPECTION_DISABLED"
    PERSISTED_QUERY_NOT_FOUND = "PERSISTED_QUERY_NOT_FOUND"
    DOCUMENT_NOT_TRUSTED = "DOCUMENT_NOT_TRUSTED"
    INTERNAL = "INTERNAL"


def api_error(code: ApiErrorCode, message: str, **extensions: Any) -> GraphQLError:
    """A top-level error the client can branch on by ``extensions.code``."""
    return GraphQLError(message, extensions={"code": code.value, **extensions})


@strawberry.interface(description="A problem with the input that the caller can fix.")
class UserError:
    field: list[str] | None = strawberry.field(
        description="Path to the input field at fault, e.g. ['input', 'variants', '0', 'sku']."
    )
    message: str


def user_errors(error: DomainError, error_type: type[Any], code_enum: type[enum.Enum]) -> list[Any]:
    """Turn a domain refusal into the payload's ``errors`` list of ``error_type``."""
    return [
        error_type(
            field=list(problem.field) or None,
            message=problem.message,
            code=code_enum(problem.code.value),
        )
        for problem in error.problems
    ]
