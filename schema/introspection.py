"""Introspection in production: only for partner developers in their sandbox.

In prod the schema is not handed to anonymous callers or first-party traffic (they have their
trusted documents, and everyone has the committed ``schema.graphql``): an operation that asks
for ``__schema`` or ``__type`` is refused with ``INTROSPECTION_DISABLED`` before it runs. A
partner developer's GraphiQL (``/sandbox/graphiql``) needs introspection for its docs and
completion, so an app token that reaches its sandbox shop (``appSandboxTokenCreate``) keeps it.

It is decided per request in ``on_execute`` (which runs on validation-cache hits too), not as
a validation rule: cached validation cannot depend on who is asking. ``__typename`` is not
introspection and stays allowed everywhere.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from graphql import DocumentNode, ExecutionResult, FieldNode, visit
from graphql.language import Visitor
from strawberry.extensions import SchemaExtension

from schema.errors import ApiErrorCode, api_error

__all__ = ["IntrospectionGate", "asks_for_introspection", "may_introspect"]

_MENTIONS = re.compile(r"\b__(schema|type)\b")
_FIELDS = frozenset({"__schema", "__type"})


class _Finder(Visitor):
    found = False

    def enter_field(self, node: FieldNode, *_: Any) -> Any:
        if node.name.value in _FIELDS:
            self.found = True
            return Visitor.BREAK
        return None


def asks_for_introspection(query: str | None, document: DocumentNode | None) -> bool:
    """Whether the document selects ``__schema`` or ``__type`` (a cheap text test first)."""
    if not query or document is None or not _MENTIONS.search(query):
        return False
    finder = _Finder()
    visit(document, finder)
    return finder.found


def may_introspect(context: Any) -> bool:
    """An app (``app:`` token) whose request reaches its own sandbox shop."""
    principal = context.principal
    shop = context.shop
    return (
        principal is not None
        and principal.subject.startswith("app:")
        and shop is not None
        and bool(getattr(shop, "sandbox", False))
        and principal.shop_id == shop.id
    )


class IntrospectionGate(SchemaExtension):
    """Added to the schema in prod only (``schema.extensions.build_extensions``)."""

    def on_execute(self) -> Iterator[None]:
        execution = self.execution_context
        if asks_for_introspection(
            execution.query, execution.graphql_document
        ) and not may_introspect(execution.context):
            execution.result = ExecutionResult(
                data=None,
                errors=[
                    api_error(
                        ApiErrorCode.INTROSPECTION_DISABLED,
                        "Introspection is off in production; use schema.graphql, or a "
                        "sandbox token in /sandbox/graphiql.",
                    )
                ],
            )
        yield
