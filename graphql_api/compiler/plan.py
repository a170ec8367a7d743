"""Plans: what a validated operation selects, read from its document the way GraphQL executes it.

Fields are collected as graphql-core collects them (aliases, fragments and inline fragments merged in
first-seen order, fields with the same response key merged), so the keys of the JSON the database
builds come out in the order Strawberry writes them.

`@skip` and `@include` are applied as graphql-core applies them. Their conditions may be variables, so a
document that has them gets a plan per request's variables (`VariablePlan`), built when its statements
are (those are remembered per variables anyway).
"""

from __future__ import annotations

from dataclasses import dataclass

from graphql import (
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLIncludeDirective,
    GraphQLObjectType,
    GraphQLSchema,
    GraphQLSkipDirective,
    InlineFragmentNode,
    OperationDefinitionNode,
    OperationType,
    SelectionNode,
    SelectionSetNode,
    get_named_type,
)
from graphql.execution.values import VariableValues, get_directive_values


class NotCompilable(Exception):
    """The operation uses something the compiler does not cover; the regular path answers it."""


class _NeedsVariables(Exception):
    pass


_CONDITIONS = frozenset({GraphQLSkipDirective.name, GraphQLIncludeDirective.name})


@dataclass(frozen=True)
class Typename:
    type_name: str


@dataclass(frozen=True)
class Field:
    """A field of an object type; `selection` is set when the field's type is an object type."""

    name: str
    type_name: str
    selection: Selection | None = None


# Response key -> what to put there, in response order.
Selection = tuple[tuple[str, "Field | Typename"], ...]


@dataclass(frozen=True)
class RootField:
    key: str
    name: str
    node: FieldNode  # the first node of the merged field: it carries the (validated) arguments
    selection: Selection | None


@dataclass(frozen=True)
class Plan:
    operation: OperationDefinitionNode
    fields: tuple[tuple[str, RootField | Typename], ...]


@dataclass(frozen=True)
class VariablePlan:
    """A document whose selection depends on its variables (`@skip`, `@include`): planned per request."""

    schema: GraphQLSchema
    document: DocumentNode
    operation: OperationDefinitionNode
    root_fields: frozenset[str]

    def with_variables(self, variables: VariableValues) -> Plan:
        """The plan for one request's (coerced) variables."""
        return _plan(self.schema, self.document, self.operation, self.root_fields, variables)


def _operation(document: DocumentNode, operation_name: str | None) -> OperationDefinitionNode:
    operations = [d for d in document.definitions if isinstance(d, OperationDefinitionNode)]
    if operation_name is None:
        if len(operations) != 1:
            raise NotCompilable("no single operation")
        return operations[0]
    for operation in operations:
        if operation.name and operation.name.value == operation_name:
            return operation
    raise NotCompilable("unknown operation")


def _collect(
    type_: GraphQLObjectType,
    selection_set: SelectionSetNode,
    fragments: dict[str, FragmentDefinitionNode],
    into: dict[str, list[FieldNode]],
    visited: set[str],
    variables: VariableValues | None,
) -> None:
    for selection in selection_set.selections:
        if selection.directives and not _included(selection, variables):
            continue
        if isinstance(selection, FieldNode):
            key = selection.alias.value if selection.alias else selection.name.value
            into.setdefault(key, []).append(selection)
        elif isinstance(selection, InlineFragmentNode):
            condition = selection.type_condition
            if condition is not None and condition.name.value != type_.name:
                raise NotCompilable("type condition")
            _collect(type_, selection.selection_set, fragments, into, visited, variables)
        elif isinstance(selection, FragmentSpreadNode):
            name = selection.name.value
            if name in visited:
                continue
            visited.add(name)
            fragment = fragments[name]
            if fragment.type_condition.name.value != type_.name or fragment.variable_definitions:
                raise NotCompilable("fragment")
            _collect(type_, fragment.selection_set, fragments, into, visited, variables)
        else:  # pragma: no cover - the parser makes no other selection
            raise NotCompilable("selection")


def _included(node: SelectionNode, variables: VariableValues | None) -> bool:
    """Whether `@skip` and `@include` keep the node (graphql-core's rule: skip wins)."""
    if any(directive.name.value not in _CONDITIONS for directive in node.directives or ()):
        raise NotCompilable("directive")
    if variables is None:
        raise _NeedsVariables()
    skip = get_directive_values(GraphQLSkipDirective, node, variables)
    if skip and skip["if"]:
        return False
    include = get_directive_values(GraphQLIncludeDirective, node, variables)
    return not (include and not include["if"])


def _selection(
    schema: GraphQLSchema,
    type_: GraphQLObjectType,
    nodes: list[FieldNode],
    fragments: dict[str, FragmentDefinitionNode],
    variables: VariableValues | None,
) -> Selection:
    collected: dict[str, list[FieldNode]] = {}
    for node in nodes:
        if node.selection_set is not None:
            _collect(type_, node.selection_set, fragments, collected, set(), variables)
    entries: list[tuple[str, Field | Typename]] = []
    for key, field_nodes in collected.items():
        name = field_nodes[0].name.value
        if name == "__typename":
            entries.append((key, Typename(type_.name)))
            continue
        definition = type_.fields.get(name)
        if definition is None or any(node.arguments for node in field_nodes):
            raise NotCompilable(f"field {type_.name}.{name}")
        named = get_named_type(definition.type)
        if isinstance(named, GraphQLObjectType):
            selection = _selection(schema, named, field_nodes, fragments, variables)
            entries.append((key, Field(name, named.name, selection)))
        else:
            entries.append((key, Field(name, named.name)))
    return tuple(entries)


def build_plan(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation_name: str | None,
    root_fields: frozenset[str],
) -> Plan | VariablePlan:
    """The plan of a validated document's operation; raises NotCompilable for what is not covered."""
    operation = _operation(document, operation_name)
    try:
        return _plan(schema, document, operation, root_fields, None)
    except _NeedsVariables:
        return VariablePlan(schema, document, operation, root_fields)


def _plan(
    schema: GraphQLSchema,
    document: DocumentNode,
    operation: OperationDefinitionNode,
    root_fields: frozenset[str],
    variables: VariableValues | None,
) -> Plan:
    if operation.operation is not OperationType.QUERY or operation.directives:
        raise NotCompilable("not a plain query")
    if any(v.directives for v in operation.variable_definitions or ()):
        raise NotCompilable("variable directive")
    fragments = {d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)}
    query_type = schema.query_type
    assert query_type is not None
    collected: dict[str, list[FieldNode]] = {}
    _collect(query_type, operation.selection_set, fragments, collected, set(), variables)
    fields: list[tuple[str, RootField | Typename]] = []
    for key, nodes in collected.items():
        name = nodes[0].name.value
        if name == "__typename":
            fields.append((key, Typename(query_type.name)))
            continue
        if name not in root_fields:
            raise NotCompilable(f"root field {name}")
        named = get_named_type(query_type.fields[name].type)
        selection = (
            _selection(schema, named, nodes, fragments, variables)
            if isinstance(named, GraphQLObjectType)
            else None
        )
        fields.append((key, RootField(key, name, nodes[0], selection)))
    return Plan(operation, tuple(fields))
