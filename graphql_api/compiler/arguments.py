"""Root field arguments as the regular path's resolvers receive them.

Variables are coerced by graphql-core and arguments converted by Strawberry with the very functions
their executor uses, so both paths see the same Python values (Strawberry input objects), then the
same schema.inputs functions turn them into the neutral filter and sort.
"""

from __future__ import annotations

from typing import Any

import strawberry
from graphql import FieldNode, GraphQLError, OperationDefinitionNode
from graphql.execution.values import VariableValues, get_argument_values, get_variable_values
from strawberry.types.arguments import convert_arguments

from graphql_api.compiler.plan import NotCompilable


class Arguments:
    def __init__(self, schema: strawberry.Schema) -> None:
        self._schema = schema
        self._graphql = schema._schema
        query_type = self._graphql.query_type
        assert query_type is not None
        self._query_type = query_type

    def variables(self, operation: OperationDefinitionNode, raw: dict[str, Any] | None) -> VariableValues:
        """Coerced variables; NotCompilable when they are invalid (the regular path reports that)."""
        values = get_variable_values(self._graphql, operation.variable_definitions or (), raw or {})
        if isinstance(values, list):
            raise NotCompilable("invalid variables")
        return values

    def of_field(self, name: str, node: FieldNode, variables: VariableValues) -> dict[str, Any]:
        """The keyword arguments the root field's resolver would be called with."""
        definition = self._query_type.fields[name]
        try:
            values = get_argument_values(definition, node, variables)
        except GraphQLError as exc:
            raise NotCompilable("invalid arguments") from exc
        field = definition.extensions["strawberry-definition"]
        return convert_arguments(
            values,
            field.arguments,
            scalar_registry=self._schema.schema_converter.scalar_registry,
            config=self._schema.config,
        )
