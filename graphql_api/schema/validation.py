"""Validation with the query limits.

`Validation` replaces Strawberry's ValidationCache: the same LRU cache of graphql-core's verdict per
document, plus the shape limits (depth, aliases, root fields), suggestions hidden when introspection is
off, and then the checks that need the request's variables (cost, filter nesting). Everything here
runs before any resolver, so a refused operation never reaches the database.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from typing import Any

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, validate
from graphql.utilities import get_operation_ast
from strawberry.extensions import SchemaExtension
from strawberry.schema.validation_rules.maybe_null import MaybeNullValidationRule
from strawberry.schema.validation_rules.one_of import OneOfInputValidationRule
from strawberry.types.arguments import convert_argument

from graphql_api.filters import depth
from graphql_api.schema.inputs import WhatsAppLogFilter, to_node
from graphql_api.schema.limits import FilterDepth, Limits, cost_errors, measure, shape_rule

# Strawberry adds these two to every validation (see strawberry.schema.schema.validate_document).
_STRAWBERRY_RULES = (MaybeNullValidationRule, OneOfInputValidationRule)
FILTER_TYPE = "WhatsAppLogFilter"


@functools.lru_cache(maxsize=256)
def _validate(
    schema: GraphQLSchema,
    document: DocumentNode,
    rules: tuple[type[ASTValidationRule], ...],
    hide_suggestions: bool,
) -> tuple[GraphQLError, ...]:
    return tuple(validate(schema, document, (*rules, *_STRAWBERRY_RULES), hide_suggestions=hide_suggestions))


def filter_depth(schema: Any) -> FilterDepth:
    """How deeply an argument nests `and`/`or`/`not`, measured on the very neutral filter that SQL would be
    built from (Strawberry's own conversion, then to_node), so both checks always agree."""
    registry = schema.schema_converter.scalar_registry

    def measure(type_name: str, value: Any) -> int:
        if type_name != FILTER_TYPE or not isinstance(value, dict):
            return 0
        where = convert_argument(value, WhatsAppLogFilter, registry, schema.config)
        return depth(to_node(where))  # type: ignore[arg-type]

    return measure


class Validation(SchemaExtension):
    """The validation step: cached document rules, then the limits that depend on the variables."""

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
        errors = list(_validate(schema, document, rules, self.hide_suggestions))
        operation = None if errors else get_operation_ast(document, context.operation_name)
        if operation is not None:  # else execution says which operation is missing
            cost = measure(
                schema,
                document,
                operation,
                context.variables,
                filter_depth(context.schema),
                hide_suggestions=self.hide_suggestions,
            )
            errors = cost if isinstance(cost, list) else list(cost_errors(cost, self.limits, operation))
        context.pre_execution_errors = errors
        yield


@functools.cache
def _shape_rules(limits: Limits) -> type[ASTValidationRule]:
    # One class per set of limits, so that the validation cache recognises the rules across requests.
    return shape_rule(limits)
