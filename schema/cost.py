"""Query cost, as DESIGN.md defines it, computed with the request's variables on every request.

- scalars and enums cost 0; an object field costs 1 plus its selections;
- ``edges`` and ``node`` (and ``nodes``) wrappers cost nothing;
- a connection costs 2 + (``first`` or ``last``, or the default page) times one node's cost;
- a plain list costs 1 plus its selections, once (the domain bounds such lists).

Fragments on abstract types are added up, so the requested cost is an upper bound. The actual
cost walks the result instead: a connection then costs 2 plus the cost of the nodes it really
returned, and the difference is refunded to the caller's bucket.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphql import (
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLNamedType,
    GraphQLObjectType,
    GraphQLSchema,
    InlineFragmentNode,
    OperationDefinitionNode,
    SelectionSetNode,
    get_named_type,
    is_leaf_type,
    is_list_type,
    value_from_ast_untyped,
)
from graphql.type.definition import get_nullable_type

from schema.pagination import DEFAULT_PAGE_SIZE

__all__ = ["OperationCost", "actual_cost", "requested_cost"]

WRAPPERS = frozenset({"edges", "node", "nodes"})


class OperationCost:
    """Walks one operation of a parsed document against the schema."""

    def __init__(
        self,
        schema: GraphQLSchema,
        operation: OperationDefinitionNode,
        fragments: Mapping[str, FragmentDefinitionNode],
        variables: Mapping[str, Any] | None,
    ) -> None:
        self.schema = schema
        self.operation = operation
        self.fragments = fragments
        self.variables = dict(variables or {})
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and definition.default_value is not None:
                self.variables[name] = value_from_ast_untyped(definition.default_value)

    def root(self) -> GraphQLObjectType:
        root = self.schema.get_root_type(self.operation.operation)
        assert root is not None
        return root

    def _arguments(self, node: FieldNode) -> dict[str, Any]:
        return {
            a.name.value: value_from_ast_untyped(a.value, self.variables) for a in node.arguments
        }

    def _included(self, node: Any) -> bool:
        for directive in node.directives or ():
            flag = next((a for a in directive.arguments if a.name.value == "if"), None)
            value = bool(value_from_ast_untyped(flag.value, self.variables)) if flag else True
            if directive.name.value == "skip" and value:
                return False
            if directive.name.value == "include" and not value:
                return False
        return True

    def fields(
        self, selection_set: SelectionSetNode | None, parent: GraphQLNamedType
    ) -> list[tuple[FieldNode, GraphQLNamedType]]:
        """The fields a selection set asks for, each with the type it is selected on, with
        fragments flattened in (a typed fragment switches the type)."""
        found: list[tuple[FieldNode, GraphQLNamedType]] = []
        for selection in selection_set.selections if selection_set else ():
            if not self._included(selection):
                continue
            if isinstance(selection, FieldNode):
                found.append((selection, parent))
                continue
            if isinstance(selection, FragmentSpreadNode):
                fragment = self.fragments.get(selection.name.value)
                if fragment is None:
                    continue
                condition, inner = fragment.type_condition, fragment.selection_set
            else:
                assert isinstance(selection, InlineFragmentNode)
                condition, inner = selection.type_condition, selection.selection_set
            typed = self.schema.get_type(condition.name.value) if condition else None
            found += self.fields(inner, typed or parent)
        return found

    def field_type(self, parent: GraphQLNamedType, node: FieldNode) -> Any:
        meta = {"__schema": "__Schema", "__type": "__Type"}.get(node.name.value)
        if meta is not None:
            return self.schema.get_type(meta)
        field = (getattr(parent, "fields", None) or {}).get(node.name.value)
        return field.type if field is not None else None


def _is_connection(named: GraphQLNamedType) -> bool:
    return named.name.endswith("Connection") and "edges" in getattr(named, "fields", {})


def _node_selections(
    walk: OperationCost, node: FieldNode, named: GraphQLNamedType
) -> list[tuple[FieldNode, GraphQLNamedType]]:
    """The selections made on each node of a connection, through edges.node and nodes."""
    chosen: list[tuple[FieldNode, GraphQLNamedType]] = []
    for inner, _ in walk.fields(node.selection_set, named):
        if inner.name.value == "edges":
            edge_type = get_named_type(walk.field_type(named, inner))
            for leaf, _ in walk.fields(inner.selection_set, edge_type):
                if leaf.name.value == "node":
                    chosen.append((leaf, get_named_type(walk.field_type(edge_type, leaf))))
        elif inner.name.value == "nodes":
            chosen.append((inner, get_named_type(walk.field_type(named, inner))))
    return chosen


def _selection_cost(
    walk: OperationCost, selection_set: SelectionSetNode | None, parent: GraphQLNamedType
) -> int:
    return sum(_field_cost(walk, f, on) for f, on in walk.fields(selection_set, parent))


def _field_cost(walk: OperationCost, node: FieldNode, parent: GraphQLNamedType) -> int:
    field_type = walk.field_type(parent, node)
    if field_type is None:
        return 0
    named = get_named_type(field_type)
    if is_leaf_type(named):
        return 0
    if _is_connection(named):
        arguments = walk._arguments(node)
        size = arguments.get("first") or arguments.get("last") or DEFAULT_PAGE_SIZE
        per_node = sum(
            _selection_cost(walk, leaf.selection_set, t)
            for leaf, t in _node_selections(walk, node, named)
        )
        outside = sum(
            _field_cost(walk, f, on)
            for f, on in walk.fields(node.selection_set, named)
            if f.name.value not in WRAPPERS
        )
        return 2 + int(size) * per_node + outside
    return 1 + _selection_cost(walk, node.selection_set, named)


def requested_cost(walk: OperationCost) -> int:
    return _selection_cost(walk, walk.operation.selection_set, walk.root())


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _actual_selection(
    walk: OperationCost, selection_set: SelectionSetNode | None, parent: GraphQLNamedType, data: Any
) -> int:
    if not isinstance(data, Mapping):
        return 0
    return sum(
        _actual_field(walk, f, on, data.get(_key(f)))
        for f, on in walk.fields(selection_set, parent)
    )


def _actual_field(walk: OperationCost, node: FieldNode, parent: GraphQLNamedType, data: Any) -> int:
    field_type = walk.field_type(parent, node)
    if field_type is None:
        return 0
    named = get_named_type(field_type)
    if is_leaf_type(named):
        return 0
    if data is None:
        return 1
    if _is_connection(named):
        return 2 + _actual_connection(walk, node, named, data)
    if is_list_type(get_nullable_type(field_type)):
        # Bounded by the domain, so charged once, like the requested cost.
        return 1 + _selection_cost(walk, node.selection_set, named)
    return 1 + _actual_selection(walk, node.selection_set, named, data)


def _actual_connection(
    walk: OperationCost, node: FieldNode, named: GraphQLNamedType, data: Mapping[str, Any]
) -> int:
    """The nodes really returned, each at its own cost, plus fields outside the wrappers."""
    total = 0
    for inner, on in walk.fields(node.selection_set, named):
        inner_data = data.get(_key(inner)) or []
        if inner.name.value == "edges":
            edge_type = get_named_type(walk.field_type(named, inner))
            for leaf, leaf_on in walk.fields(inner.selection_set, edge_type):
                if leaf.name.value != "node":
                    continue
                node_type = get_named_type(walk.field_type(leaf_on, leaf))
                total += sum(
                    _actual_selection(walk, leaf.selection_set, node_type, edge.get(_key(leaf)))
                    for edge in inner_data
                    if isinstance(edge, Mapping)
                )
        elif inner.name.value == "nodes":
            node_type = get_named_type(walk.field_type(named, inner))
            total += sum(
                _actual_selection(walk, inner.selection_set, node_type, item) for item in inner_data
            )
        else:
            total += _actual_field(walk, inner, on, data.get(_key(inner)))
    return total


def actual_cost(walk: OperationCost, data: Any) -> int:
    return _actual_selection(walk, walk.operation.selection_set, walk.root(), data)
