"""GraphQL inputs: the log filter, its operator inputs and the sort order; converted to the neutral form."""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Annotated, Any

import strawberry

from graphql_api.data.fields import FIELDS, SORTABLE, Field
from graphql_api.data.filters import All, AnyOf, Condition, Node, Not, SortKey
from graphql_api.data.kinds import DATETIME, ID, INT, STRING, Kind
from graphql_api.schema.derived import FieldSpec, enum_type, fields_first, optional_list

_EQ = "Equal to this value."
_NE = "Not equal to this value; also matches records where the field is null."
_IN = "Equal to one of these values."
_NOT_IN = "Equal to none of these values; also matches records where the field is null."
_IS_NULL = "true: the field is null; false: the field has a value."
_CONTAINS = "Contains this text, ignoring case; `%` and `_` are matched literally."
_STARTS = "Starts with this text, ignoring case; `%` and `_` are matched literally."
_ENDS = "Ends with this text, ignoring case; `%` and `_` are matched literally."


@strawberry.input(description="Conditions on a text field; all given operators must hold.")
class StringFilter:
    eq: str | None = strawberry.field(default=strawberry.UNSET, description=_EQ)
    ne: str | None = strawberry.field(default=strawberry.UNSET, description=_NE)
    in_: list[str] | None = strawberry.field(default=strawberry.UNSET, name="in", description=_IN)
    not_in: list[str] | None = strawberry.field(default=strawberry.UNSET, description=_NOT_IN)
    contains: str | None = strawberry.field(default=strawberry.UNSET, description=_CONTAINS)
    starts_with: str | None = strawberry.field(default=strawberry.UNSET, description=_STARTS)
    ends_with: str | None = strawberry.field(default=strawberry.UNSET, description=_ENDS)
    is_null: bool | None = strawberry.field(default=strawberry.UNSET, description=_IS_NULL)


@strawberry.input(description="Conditions on an integer field; all given operators must hold.")
class IntFilter:
    eq: int | None = strawberry.field(default=strawberry.UNSET, description=_EQ)
    ne: int | None = strawberry.field(default=strawberry.UNSET, description=_NE)
    in_: list[int] | None = strawberry.field(default=strawberry.UNSET, name="in", description=_IN)
    not_in: list[int] | None = strawberry.field(default=strawberry.UNSET, description=_NOT_IN)
    gt: int | None = strawberry.field(default=strawberry.UNSET, description="Greater than this value.")
    gte: int | None = strawberry.field(
        default=strawberry.UNSET, description="Greater than or equal to this value."
    )
    lt: int | None = strawberry.field(default=strawberry.UNSET, description="Less than this value.")
    lte: int | None = strawberry.field(
        default=strawberry.UNSET, description="Less than or equal to this value."
    )
    is_null: bool | None = strawberry.field(default=strawberry.UNSET, description=_IS_NULL)


@strawberry.input(description="Conditions on a date-time field; all given operators must hold.")
class DateTimeFilter:
    eq: datetime | None = strawberry.field(default=strawberry.UNSET, description=_EQ)
    ne: datetime | None = strawberry.field(default=strawberry.UNSET, description=_NE)
    in_: list[datetime] | None = strawberry.field(default=strawberry.UNSET, name="in", description=_IN)
    not_in: list[datetime] | None = strawberry.field(default=strawberry.UNSET, description=_NOT_IN)
    gt: datetime | None = strawberry.field(default=strawberry.UNSET, description="Later than this moment.")
    gte: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="At or later than this moment."
    )
    lt: datetime | None = strawberry.field(default=strawberry.UNSET, description="Earlier than this moment.")
    lte: datetime | None = strawberry.field(
        default=strawberry.UNSET, description="At or earlier than this moment."
    )
    is_null: bool | None = strawberry.field(default=strawberry.UNSET, description=_IS_NULL)


@strawberry.input(description="Conditions on an id field; all given operators must hold.")
class IDFilter:
    eq: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description=_EQ)
    ne: strawberry.ID | None = strawberry.field(default=strawberry.UNSET, description=_NE)
    in_: list[strawberry.ID] | None = strawberry.field(default=strawberry.UNSET, name="in", description=_IN)
    not_in: list[strawberry.ID] | None = strawberry.field(default=strawberry.UNSET, description=_NOT_IN)
    is_null: bool | None = strawberry.field(default=strawberry.UNSET, description=_IS_NULL)


def _choices_enum(f: Field) -> type[Enum]:
    """The enum of the values the platform writes to a free-text field (`WhatsAppLogStatus`)."""
    assert f.choices is not None
    members = [
        (value.upper().replace(" ", "_"), strawberry.enum_value(value, description=f"Stored as `{value}`."))
        for value in f.choices.values
    ]
    return enum_type(f.choices.enum, members, f.choices.description)  # type: ignore[no-any-return]


_FILTER_INPUTS: dict[Kind, type] = {
    ID: IDFilter,
    STRING: StringFilter,
    INT: IntFilter,
    DATETIME: DateTimeFilter,
}
CHOICES: dict[str, type[Enum]] = {f.name: _choices_enum(f) for f in FIELDS.values() if f.choices}


def _choices_attribute(f: Field) -> str:
    return f"{f.attribute}_in"


def _filter_fields() -> list[FieldSpec]:
    """A condition input per field of the registry, and `<name>In` after a field with choices."""
    specs: list[FieldSpec] = []
    for f in FIELDS.values():
        description = f"Conditions on `{f.name}`.{f.filter_note}"
        field = strawberry.field(default=strawberry.UNSET, name=f.name, description=description)
        specs.append((f.attribute, _FILTER_INPUTS[f.kind] | None, field))
        if f.choices is not None:
            field = strawberry.field(
                default=strawberry.UNSET, name=f"{f.name}In", description=f.choices.filter_description
            )
            specs.append((_choices_attribute(f), optional_list(CHOICES[f.name]), field))
    return specs


@strawberry.input(
    description=(
        "Which logs to return. Conditions on several fields must all hold; combine with `and`, `or` "
        "and `not`. `not: F` matches exactly the logs that `F` does not."
    )
)
@fields_first(_filter_fields())
class WhatsAppLogFilter:
    and_: list[WhatsAppLogFilter] | None = strawberry.field(
        default=strawberry.UNSET, name="and", description="Every one of these filters must match."
    )
    or_: list[WhatsAppLogFilter] | None = strawberry.field(
        default=strawberry.UNSET, name="or", description="At least one of these filters must match."
    )
    not_: WhatsAppLogFilter | None = strawberry.field(
        default=strawberry.UNSET, name="not", description="This filter must not match (its exact complement)."
    )


@strawberry.enum(description="Direction of a sort key.")
class SortOrder(Enum):
    ASC = strawberry.enum_value("ASC", description="Smallest, earliest or A first; nulls first.")
    DESC = strawberry.enum_value("DESC", description="Largest, latest or Z first; nulls last.")


def _sort_fields() -> list[FieldSpec]:
    specs: list[FieldSpec] = []
    for f in sorted(SORTABLE.values(), key=lambda f: f.sort.rank if f.sort else 0):
        note = f.sort.note if f.sort else ""
        field = strawberry.field(
            default=strawberry.UNSET, name=f.name, description=f"Sort by {f.name}{note}."
        )
        specs.append((f.attribute, SortOrder | None, field))
    return specs


@strawberry.input(
    one_of=True,
    description=(
        "One sort key: set exactly one field. In a list, earlier keys take priority; the log id, "
        "in the direction of the last key, always breaks ties so pages never overlap."
    ),
)
@fields_first(_sort_fields())
class WhatsAppLogOrderBy:
    pass


_OPERATORS = ("eq", "ne", "in_", "not_in", "contains", "starts_with", "ends_with", "gt", "gte", "lt", "lte")


def _given(value: Any) -> bool:
    """An operator counts when it has a value: omitted and explicit null both mean no condition."""
    return value is not None and value is not strawberry.UNSET


def _conditions(name: str, operators: Any) -> list[Node]:
    nodes: list[Node] = []
    for attr in _OPERATORS:
        value = getattr(operators, attr, None)
        if _given(value):
            nodes.append(Condition(name, attr.rstrip("_"), value))  # type: ignore[arg-type]
    if _given(operators.is_null):
        nodes.append(Condition(name, "is_null", operators.is_null))
    return nodes


def to_node(where: WhatsAppLogFilter | None) -> Node | None:
    """The neutral filter for a GraphQL filter input (None when there is nothing to filter)."""
    if where is None:
        return None
    parts: list[Node] = []
    for name, f in FIELDS.items():
        operators = getattr(where, f.attribute)
        if _given(operators):
            parts.extend(_conditions(name, operators))
        if f.choices is not None:
            chosen = getattr(where, _choices_attribute(f))
            if _given(chosen):
                parts.append(Condition(name, "in", [choice.value for choice in chosen]))
    if where.and_:
        parts.append(All(tuple(n for n in map(to_node, where.and_) if n is not None)))
    if where.or_ is not None and where.or_ is not strawberry.UNSET:
        parts.append(AnyOf(tuple(to_node(f) or All(()) for f in where.or_)))
    if _given(where.not_):
        parts.append(Not(to_node(where.not_) or All(())))
    # One condition needs no wrapper: nesting depth then counts only `and` / `or` / `not`.
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def to_sort_keys(order_by: list[WhatsAppLogOrderBy] | None) -> list[SortKey]:
    """The neutral sort keys for a GraphQL `orderBy` list."""
    keys: list[SortKey] = []
    for element in order_by or ():
        for name, f in SORTABLE.items():
            direction = getattr(element, f.attribute)
            if _given(direction):
                keys.append(SortKey(name, descending=direction is SortOrder.DESC))
    return keys


Where = Annotated[
    WhatsAppLogFilter | None,
    strawberry.argument(description="Only logs matching this filter (default: all of the project's logs)."),
]
