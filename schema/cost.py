"""Query cost, as DESIGN.md defines it, computed with the request's variables on every request.

- scalars and enums cost 0; an object field costs 1 plus its selections;
- ``edges`` and ``node`` (and ``nodes``) wrappers cost nothing;
- a connection costs 2 + (``first`` or ``last``, or the default page) times one node's cost;
- a plain list costs 1 plus its selections, once (the domain bounds such lists), except a list
  whose length the caller chooses (``nodes(ids:)``), which costs its selections per ID.

Fragments are costed once per type they are spread on and reused, so a document of nested
fragment spreads costs linear work to price however large its expansion; fragments on abstract
types are added up, so the requested cost is an upper bound. The actual cost walks the result:
a connection then costs 2 plus the nodes it really returned, and the rest is refunded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
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
    SelectionNode,
    SelectionSetNode,
    get_named_type,
    is_leaf_type,
    is_list_type,
    value_from_ast_untyped,
)
from graphql.type.definition import get_nullable_type

from schema.pagination import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE

__all__ = ["OperationCost", "actual_cost", "requested_cost"]

WRAPPERS = frozenset({"edges", "node", "nodes"})


class OperationCost:
    """Walks one operation of a parsed, validated document against the schema."""

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
        self.memo: dict[tuple[Any, ...], Any] = {}
        for definition in operation.variable_definitions or ():
            name = definition.variable.name.value
            if name not in self.variables and definition.default_value is not None:
                self.variables[name] = value_from_ast_untyped(definition.default_value)

    def root(self) -> GraphQLObjectType:
        root = self.schema.get_root_type(self.operation.operation)
        assert root is not None
        return root

    def arguments(self, node: FieldNode) -> dict[str, Any]:
        return {
            a.name.value: value_from_ast_untyped(a.value, self.variables)
            for a in node.arguments or ()
        }

    def included(self, node: SelectionNode) -> bool:
        for directive in node.directives or ():
            flag = next((a for a in directive.arguments if a.name.value == "if"), None)
            value = bool(value_from_ast_untyped(flag.value, self.variables)) if flag else True
            if directive.name.value == "skip" and value:
                return False
            if directive.name.value == "include" and not value:
                return False
        return True

    def fragment(
        self, selection: SelectionNode, parent: GraphQLNamedType
    ) -> tuple[SelectionSetNode | None, GraphQLNamedType]:
        """The selections a fragment adds, and the type they are selected on."""
        if isinstance(selection, FragmentSpreadNode):
            definition = self.fragments.get(selection.name.value)
            if definition is None:
                return None, parent
            condition, inner = definition.type_condition, definition.selection_set
        else:
            assert isinstance(selection, InlineFragmentNode)
            condition, inner = selection.type_condition, selection.selection_set
        typed = self.schema.get_type(condition.name.value) if condition else None
        return inner, typed or parent

    def field_type(self, parent: GraphQLNamedType, node: FieldNode) -> Any:
        meta = {"__schema": "__Schema", "__type": "__Type"}.get(node.name.value)
        if meta is not None:
            return self.schema.get_type(meta)
        field = (getattr(parent, "fields", None) or {}).get(node.name.value)
        return field.type if field is not None else None


def _is_connection(named: GraphQLNamedType) -> bool:
    return named.name.endswith("Connection") and "edges" in getattr(named, "fields", {})


def _count(value: Any, default: int) -> int:
    """A page size as the request gives it: anything that is not a non-negative whole number
    is priced as the largest page (execution will refuse it anyway)."""
    if isinstance(value, bool) or not isinstance(value, int):
        return default if value is None else MAX_PAGE_SIZE
    return min(max(value, 0), MAX_PAGE_SIZE) if value >= 0 else MAX_PAGE_SIZE


def _fold(
    walk: OperationCost,
    tag: str,
    selection_set: SelectionSetNode | None,
    parent: GraphQLNamedType,
    on_field: Callable[[FieldNode, GraphQLNamedType], int],
    data: Any = None,
) -> int:
    """Add up ``on_field`` over a selection set, fragments included, each fragment once.

    The total for a (selection set, type, data) is remembered under ``tag``, so a fragment
    spread many times, or spreading others many times, is added up once: pricing stays linear
    in the document however large its expansion.
    """
    if selection_set is None:
        return 0
    key = (tag, id(selection_set), parent.name, id(data))
    if key in walk.memo:
        return int(walk.memo[key])
    total = 0
    for selection in selection_set.selections:
        if not walk.included(selection):
            continue
        if isinstance(selection, FieldNode):
            total += on_field(selection, parent)
        else:
            inner, typed = walk.fragment(selection, parent)
            total += _fold(walk, tag, inner, typed, on_field, data)
    walk.memo[key] = total
    return total


def _selection_cost(
    walk: OperationCost, selection_set: SelectionSetNode | None, parent: GraphQLNamedType
) -> int:
    return _fold(walk, "cost", selection_set, parent, lambda f, on: _field_cost(walk, f, on))


def _node_cost(
    walk: OperationCost, selection_set: SelectionSetNode | None, connection: GraphQLNamedType
) -> int:
    """One node's cost, as selected through ``nodes`` and ``edges { node }``."""

    def on_field(field: FieldNode, on: GraphQLNamedType) -> int:
        if field.name.value not in ("nodes", "edges"):
            return 0
        item_type = get_named_type(walk.field_type(on, field))
        if field.name.value == "nodes":
            return _selection_cost(walk, field.selection_set, item_type)
        return _fold(walk, "edge", field.selection_set, item_type, edge_field)

    def edge_field(field: FieldNode, edge: GraphQLNamedType) -> int:
        if field.name.value == "node":  # the wrapper is free; its selections are not
            node_type = get_named_type(walk.field_type(edge, field))
            return _selection_cost(walk, field.selection_set, node_type)
        return _field_cost(walk, field, edge)

    return _fold(walk, "node", selection_set, connection, on_field)


def _outside_cost(
    walk: OperationCost, selection_set: SelectionSetNode | None, connection: GraphQLNamedType
) -> int:
    """What a connection's own fields cost (``pageInfo``), apart from its nodes."""

    def on_field(field: FieldNode, on: GraphQLNamedType) -> int:
        return 0 if field.name.value in WRAPPERS else _field_cost(walk, field, on)

    return _fold(walk, "outside", selection_set, connection, on_field)


def _field_cost(walk: OperationCost, node: FieldNode, parent: GraphQLNamedType) -> int:
    field_type = walk.field_type(parent, node)
    if field_type is None:
        return 0
    named = get_named_type(field_type)
    if is_leaf_type(named):
        return 0
    arguments = walk.arguments(node)
    if _is_connection(named):
        size = _count(arguments.get("first", arguments.get("last")), DEFAULT_PAGE_SIZE)
        per_node = _node_cost(walk, node.selection_set, named)
        return 2 + size * per_node + _outside_cost(walk, node.selection_set, named)
    selections = _selection_cost(walk, node.selection_set, named)
    if isinstance(arguments.get("ids"), list):
        # The caller picks this list's length, so every requested object is paid for.
        return 1 + _count(len(arguments["ids"]), MAX_PAGE_SIZE) * selections
    return 1 + selections


def requested_cost(walk: OperationCost) -> int:
    return max(0, _selection_cost(walk, walk.operation.selection_set, walk.root()))


def _key(node: FieldNode) -> str:
    return node.alias.value if node.alias else node.name.value


def _actual_selection(
    walk: OperationCost,
    selection_set: SelectionSetNode | None,
    parent: GraphQLNamedType,
    data: Any,
) -> int:
    """Only fields present in the data count: a fragment on another type selected nothing."""
    if not isinstance(data, Mapping):
        return 0

    def on_field(field: FieldNode, on: GraphQLNamedType) -> int:
        if _key(field) not in data:
            return 0
        return _actual_field(walk, field, on, data[_key(field)])

    return _fold(walk, "actual", selection_set, parent, on_field, data)


def _actual_connection(
    walk: OperationCost,
    selection_set: SelectionSetNode | None,
    named: GraphQLNamedType,
    data: Mapping[str, Any],
) -> int:
    """The nodes really returned, each at its own cost, and the connection's own fields."""

    def on_field(field: FieldNode, on: GraphQLNamedType) -> int:
        value = data.get(_key(field))
        if field.name.value in ("nodes", "edges"):
            if not isinstance(value, list):
                return 0
            item_type = get_named_type(walk.field_type(on, field))
            return sum(_actual_selection(walk, field.selection_set, item_type, i) for i in value)
        if field.name.value in WRAPPERS or _key(field) not in data:
            return 0
        return _actual_field(walk, field, on, value)

    return _fold(walk, "actual-connection", selection_set, named, on_field, data)


def _actual_field(  # noqa: PLR0911 - one return per kind of field, in the order DESIGN.md lists
    walk: OperationCost, node: FieldNode, parent: GraphQLNamedType, data: Any
) -> int:
    field_type = walk.field_type(parent, node)
    if field_type is None:
        return 0
    named = get_named_type(field_type)
    if is_leaf_type(named):
        return 0
    if parent.name.endswith("Edge") and node.name.value == "node":
        return _actual_selection(walk, node.selection_set, named, data)  # the wrapper is free
    if data is None:
        return 1
    if _is_connection(named):
        return 2 + _actual_connection(walk, node.selection_set, named, data)
    if is_list_type(get_nullable_type(field_type)) and isinstance(data, list):
        if isinstance(walk.arguments(node).get("ids"), list):
            return 1 + sum(
                _actual_selection(walk, node.selection_set, named, item) for item in data
            )
        # Bounded by the domain, so charged once, like the requested cost.
        return 1 + _selection_cost(walk, node.selection_set, named)
    return 1 + _actual_selection(walk, node.selection_set, named, data)


def actual_cost(walk: OperationCost, data: Any) -> int:
    return max(0, _actual_selection(walk, walk.operation.selection_set, walk.root(), data))
