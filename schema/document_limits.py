"""Depth and alias limits as one validation rule that measures each fragment once.

Measured naively, a document of fragments that each spread the next one twice takes time
doubling with every level: a few hundred bytes could hold a worker for minutes before any limit
answers. Here each fragment's depth and alias count are measured once and reused, so the work
is linear in the document's size, however large its expansion. The messages are strawberry's,
so the error codes stay the same.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from graphql import (
    ASTValidationRule,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    ValidationContext,
)

__all__ = ["document_limits"]


@dataclass(frozen=True, slots=True)
class _Measure:
    height: int  # levels of fields below the selection set's own
    aliases: int


class _Measurer:
    def __init__(self, fragments: Mapping[str, FragmentDefinitionNode]) -> None:
        self.fragments = fragments
        self.done: dict[str, _Measure] = {}
        self.visiting: set[str] = set()

    def selection_set(self, selection_set: SelectionSetNode | None) -> _Measure:
        height = aliases = 0
        for selection in selection_set.selections if selection_set else ():
            if isinstance(selection, FieldNode):
                aliases += 1 if selection.alias else 0
                if selection.name.value.startswith("__") or not selection.selection_set:
                    continue  # introspection and leaves add no depth, as strawberry counts
                inner = self.selection_set(selection.selection_set)
                height = max(height, 1 + inner.height)
                aliases += inner.aliases
            elif isinstance(selection, InlineFragmentNode):
                inner = self.selection_set(selection.selection_set)
                height, aliases = max(height, inner.height), aliases + inner.aliases
            elif isinstance(selection, FragmentSpreadNode):
                inner = self.fragment(selection.name.value)
                height, aliases = max(height, inner.height), aliases + inner.aliases
        return _Measure(height, aliases)

    def fragment(self, name: str) -> _Measure:
        if name in self.done:
            return self.done[name]
        definition = self.fragments.get(name)
        if definition is None or name in self.visiting:  # cycles are another rule's error
            return _Measure(0, 0)
        self.visiting.add(name)
        measured = self.selection_set(definition.selection_set)
        self.visiting.discard(name)
        self.done[name] = measured
        return measured


def document_limits(max_depth: int, max_aliases: int) -> type[ASTValidationRule]:
    """The rule class, built once at start-up so the validation cache keeps hitting."""

    class DocumentLimits(ASTValidationRule):
        def __init__(self, context: ValidationContext) -> None:
            super().__init__(context)
            document = context.document
            fragments = {
                d.name.value: d
                for d in document.definitions
                if isinstance(d, FragmentDefinitionNode)
            }
            measurer = _Measurer(fragments)
            total_aliases = 0
            for operation in document.definitions:
                if not isinstance(operation, OperationDefinitionNode):
                    continue
                measured = measurer.selection_set(operation.selection_set)
                total_aliases += measured.aliases
                # The deepest field sits at level `height` (top-level fields are level 0).
                if measured.height > max_depth:
                    name = operation.name.value if operation.name else "anonymous"
                    context.report_error(
                        GraphQLError(
                            f"'{name}' exceeds maximum operation depth of {max_depth}", operation
                        )
                    )
            if total_aliases > max_aliases:
                context.report_error(
                    GraphQLError(f"{total_aliases} aliases found. Allowed: {max_aliases}")
                )

    return DocumentLimits
