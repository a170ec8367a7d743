"""Validation with the query limits.

`Validation` replaces Strawberry's ValidationCache: the same LRU cache of graphql-core's verdict per
document, plus the shape limits (depth, aliases, root fields), suggestions hidden when introspection is
off, and then the checks that need the request's variables (cost, filter nesting). Everything here
runs before any resolver, so a refused operation never reaches the database.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    GraphQLError,
    GraphQLSchema,
    NamedTypeNode,
    OperationDefinitionNode,
    print_ast,
    validate,
)
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types.arguments import convert_argument

from graphql_api.data.filters import depth, size, too_many_conditions
from graphql_api.schema.cost import FilterDepth, cost_errors, measure
from graphql_api.schema.inputs import WhatsAppLogFilter, to_node
from graphql_api.schema.limits import Limits, same_field_errors, shape_rule, too_complex
from graphql_api.schema.lru import LRU
from graphql_api.schema.roots import BOUNDS

# Strawberry adds these two to every validation (see strawberry.schema.schema.validate_document).
_STRAWBERRY_RULES = (MaybeNullValidationRule, OneOfInputValidationRule)
FILTER_TYPE = "WhatsAppLogFilter"


class _Verdicts:
    """graphql-core's verdicts, remembered per document in its printed (canonical) form, so that a
    comment, spacing or a reordered client that changes nothing else is not validated again. Errors
    are reused only for the very document they were found in (their locations point into it)."""

    def __init__(self, size: int = 256) -> None:
        self._cache: LRU[tuple[Any, ...], tuple[DocumentNode, tuple[GraphQLError, ...]]] = LRU(size)

    def __call__(
        self,
        schema: GraphQLSchema,
        document: DocumentNode,
        rules: tuple[type[ASTValidationRule], ...],
        hide_suggestions: bool,
    ) -> tuple[GraphQLError, ...]:
        key = (schema, print_ast(document), rules, hide_suggestions)
        cached = self._cache.get(key)
        if cached is not None and (not cached[1] or cached[0] is document):
            return cached[1]
        errors = tuple(
            validate(schema, document, (*rules, *_STRAWBERRY_RULES), hide_suggestions=hide_suggestions)
        )
        self._cache.put(key, (document, errors))
        return errors


_validate = _Verdicts()


def filter_depth(schema: Any, max_conditions: int) -> FilterDepth:
    """How deeply an argument nests `and`/`or`/`not`, and how many conditions it holds, measured on the
    very neutral filter that SQL would be built from (Strawberry's own conversion, then to_node), so both
    checks always agree. A filter whose raw value already holds more than `max_conditions` operators is
    not converted at all (that costs time in proportion to its size), and each value is measured once
    (a variable used by ten root fields is one value)."""
    registry = schema.schema_converter.scalar_registry
    measured: dict[int, tuple[Any, tuple[int, int]]] = {}

    def measure(type_name: str, value: Any) -> tuple[int, int]:
        if type_name != FILTER_TYPE or not isinstance(value, dict):
            return 0, 0
        seen = measured.get(id(value))
        if seen is not None and seen[0] is value:
            return seen[1]
        operators = _operators(value)
        if operators > max_conditions:
            shape = (0, operators)
        else:
            node = to_node(convert_argument(value, WhatsAppLogFilter, registry, schema.config))  # type: ignore[arg-type]
            shape = (depth(node), size(node))
        measured[id(value)] = (value, shape)
        return shape

    return measure


def argument_bounds(coordinate: str, arguments: Mapping[str, Any]) -> None:
    """Raises the resolver's BadUserInput when a root field's page or bucket argument is out of bounds."""
    # Checked before the cost, which an out-of-bounds `limit` would inflate into a QUERY_TOO_COMPLEX
    # that does not say what to change.
    root, _, field = coordinate.partition(".")
    check = BOUNDS.get(field) if root in ("Query", "Subscription") else None
    if check is not None:
        check(arguments)


def _operators(value: Any) -> int:
    """Operators given in a raw filter value (an upper bound of its conditions), without recursion."""
    count = 0
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            for key, inner in item.items():
                if key in _COMBINATORS:
                    stack.append(inner)
                elif isinstance(inner, dict):
                    count += sum(operand is not None for operand in inner.values())
                elif inner is not None:  # an operator of its own, such as `statusIn`
                    count += 1
    return count


_COMBINATORS = frozenset({"and", "or", "not"})


def _filter_variable_operators(operation: OperationDefinitionNode, variables: dict[str, Any] | None) -> int:
    """Operators in the raw values of the operation's filter variables, each counted once."""
    if not variables:
        return 0
    count = 0
    for definition in operation.variable_definitions or ():
        type_node: Any = definition.type
        while not isinstance(type_node, NamedTypeNode):  # through [ ] and !
            type_node = type_node.type
        if type_node.name.value == FILTER_TYPE:
            count += _operators(variables.get(definition.variable.name.value))
    return count


class Validation(SchemaExtension):
    """The validation step: cached document rules, then the limits that depend on the variables."""

    # Same document and variables, same verdict: the compiled path's fast path may skip it on a repeat.
    repeatable = True

    def __init__(self, limits: Limits, *, hide_suggestions: bool) -> None:
        self.limits = limits
        self.shape_rule = _shape_rules(limits)
        self.hide_suggestions = hide_suggestions

    def on_validate(self) -> Iterator[None]:
        context = self.execution_context
        document = context.graphql_document
        assert document is not None
        schema = context.schema._schema
        rules = (*context.validation_rules, self.shape_rule)
        # Before graphql-core's rules, one of which is quadratic in fields of the same name.
        errors = same_field_errors(document) or list(
            _validate(schema, document, rules, self.hide_suggestions)
        )
        operation = None if errors else get_operation_ast(document, context.operation_name)
        # graphql-core coerces every variable before anything else reads it: a 900-condition filter
        # costs it ~90 ms of the event loop. Counted raw first, it is refused in microseconds.
        operators = _filter_variable_operators(operation, context.variables) if operation is not None else 0
        if operation is not None and operators > self.limits.max_filter_conditions:
            errors = [
                too_complex(too_many_conditions(operators, self.limits.max_filter_conditions), operation)
            ]
        elif operation is not None:  # else execution says which operation is missing
            cost = measure(
                schema,
                document,
                operation,
                context.variables,
                filter_depth(context.schema, self.limits.max_filter_conditions),
                bounds=argument_bounds,
                hide_suggestions=self.hide_suggestions,
            )
            errors = cost if isinstance(cost, list) else list(cost_errors(cost, self.limits, operation))
        context.pre_execution_errors = errors
        yield


@functools.cache
def _shape_rules(limits: Limits) -> type[ASTValidationRule]:
    # One class per set of limits, so that the validation cache recognises the rules across requests.
    return shape_rule(limits)
