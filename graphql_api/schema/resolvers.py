"""Plain fields: read straight from the row, without a resolver call per field and row.

A page of 100 logs with every field is over 2,000 field executions. graphql-core spends a few
microseconds on each (resolve info, path, middleware lookup, awaitable checks, leaf completion) even
when all it does is read an attribute. Two steps take that away, and only for the row-backed types:

- every plain field (no resolver, arguments, extensions or permissions) gets a direct attribute
  resolver in place of Strawberry's three-call wrapper, and the relation fields their own function
  without Strawberry's argument handling around it (`read_rows_directly`);
- `PlainFieldsExecutor` completes such fields of an object in one loop: the attribute, then the
  scalar's `serialize`. Fields with resolvers (the relations) still go through `execute_field`, and
  anything unusual (a null in a non-null field, a value `serialize` rejects, middleware) sends the
  object back down graphql-core's own path, which reports it exactly as before.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import strawberry
from graphql import GraphQLObjectType, get_named_type, is_leaf_type, is_non_null_type
from graphql.execution.collect_fields import GroupedFieldSet
from graphql.pyutils import Path, Undefined
from graphql.pyutils.gather_with_cancel import gather_with_cancel
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.base import StrawberryObjectDefinition

from graphql_api.schema.types import DIRECT, RELATED_TYPES, WhatsAppLog

ROW_TYPES: tuple[type, ...] = (WhatsAppLog, *RELATED_TYPES.values())
_ATTRIBUTE = "_row_attribute"


def _attribute(name: str) -> Callable[..., Any]:
    def resolve(source: Any, _info: Any) -> Any:
        return getattr(source, name)

    setattr(resolve, _ATTRIBUTE, name)
    resolve._is_default = True  # type: ignore[attr-defined]  # tracing extensions skip such fields
    return resolve


def read_rows_directly(schema: strawberry.Schema) -> None:
    """Give every plain field of the row-backed types a direct attribute resolver."""
    for cls in ROW_TYPES:
        definition: StrawberryObjectDefinition = cls.__strawberry_definition__  # type: ignore[attr-defined]
        graphql_type: Any = schema._schema.type_map[definition.name]
        for field in definition.fields:
            if field.extensions or field.permission_classes:
                continue
            name = schema.config.name_converter.get_graphql_name(field)
            if field.base_resolver is None:
                graphql_type.fields[name].resolve = _attribute(field.python_name)
            elif getattr(field.base_resolver.wrapped_func, DIRECT, False):
                # A (root, info) function that reads nothing Strawberry-specific from `info`.
                graphql_type.fields[name].resolve = field.base_resolver.wrapped_func


class _Fallback(Exception):
    """This object needs graphql-core's full path."""


# One step of a plan: (response name, attribute or None for a field to execute, serialize, nullable)
_Step = tuple[str, str | None, Callable[[Any], Any] | None, bool]


class PlainFieldsExecutor(StrawberryGraphQLCoreExecutionContext):
    """graphql-core's executor, completing the plain fields of row-backed objects in one loop."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Per request: graphql-core reuses one grouped field set for every item of a list.
        self._plans: dict[int, tuple[GroupedFieldSet, list[_Step] | None]] = {}
        middleware = getattr(self.middleware_manager, "middlewares", None)
        self._enabled = not middleware

    def _plan(self, parent_type: GraphQLObjectType, fields: GroupedFieldSet) -> list[_Step] | None:
        cached = self._plans.get(id(fields))
        if cached is not None and cached[0] is fields:
            return cached[1]
        steps: list[_Step] = []
        plain = 0
        for response_name, details in fields.items():
            node = details[0].node
            field_def = parent_type.fields.get(node.name.value)
            attribute = getattr(field_def.resolve, _ATTRIBUTE, None) if field_def else None
            if (
                field_def is None
                or attribute is None
                or node.arguments
                or not is_leaf_type(get_named_type(field_def.type))
            ):
                steps.append((response_name, None, None, True))
                continue
            named: Any = get_named_type(field_def.type)
            steps.append((response_name, attribute, named.serialize, not is_non_null_type(field_def.type)))
            plain += 1
        plan = steps if plain else None
        self._plans[id(fields)] = (fields, plan)
        return plan

    def _regular(self, *args: Any) -> Any:
        return super().execute_fields(*args)

    def execute_operation(self, serially: bool | None = None) -> Any:
        """A subscription event that streams share (a `rendered` dict on the event: whatsAppLogStream's
        shared reads) is executed once per document and variables: the streams reading the same
        batch with the same operation get the same result, which each sends."""
        rendered: dict[Any, Any] | None = getattr(self.root_value, "rendered", None)
        location = self.operation.loc
        if rendered is None or location is None:
            return super().execute_operation(serially)
        key = (location.source.body, location.start, repr(self.variable_values))
        result = rendered.get(key)
        if result is None:
            result = super().execute_operation(serially)
            if self.is_awaitable(result):  # a relation that was not preloaded: not shared
                return result
            rendered[key] = result
        return result

    def execute_fields(
        self,
        parent_type: GraphQLObjectType,
        source_value: Any,
        path: Path | None,
        grouped_field_set: GroupedFieldSet,
        position_context: Any,
    ) -> Any:
        plan = self._plan(parent_type, grouped_field_set) if self._enabled else None
        if plan is None:
            return self._regular(parent_type, source_value, path, grouped_field_set, position_context)
        plain_values = []
        try:
            for _, attribute, serialize, nullable in plan:
                if attribute is None:
                    continue
                value = getattr(source_value, attribute)
                if value is not None:
                    value = serialize(value)  # type: ignore[misc]
                    if value is None or value is Undefined:
                        raise _Fallback
                elif not nullable:
                    raise _Fallback
                plain_values.append(value)
        except Exception:  # noqa: BLE001 - graphql-core's own path reports it properly
            return self._regular(parent_type, source_value, path, grouped_field_set, position_context)
        results: dict[str, Any] = {}
        awaitable_fields: list[str] = []
        values = iter(plain_values)
        try:
            for response_name, attribute, _, _ in plan:
                if attribute is not None:
                    results[response_name] = next(values)
                    continue
                result = self.execute_field(
                    parent_type,
                    source_value,
                    grouped_field_set[response_name],
                    Path(path, response_name, parent_type.name),
                    position_context,
                )
                if result is not Undefined:
                    results[response_name] = result
                    if self.is_awaitable(result):
                        awaitable_fields.append(response_name)
        except Exception:
            # As graphql-core does: other fields' pending work is settled, not left dangling.
            if awaitable_fields:
                self.settle_in_background([results[name] for name in awaitable_fields])
            raise
        if not awaitable_fields:
            return results

        async def gather() -> dict[str, Any]:
            awaited = await gather_with_cancel(*(results[name] for name in awaitable_fields))
            results.update(zip(awaitable_fields, awaited, strict=True))
            return results

        return gather()
