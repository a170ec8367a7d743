"""Filters, sort orders and pages: one neutral form that GraphQL and REST both build, turned into SQL here.

Every condition compiles to a two-valued SQL expression (never NULL), so `not F` is the exact
complement of `F`, and `ne` / `notIn` also match rows where the field is null.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, and_, false, not_, or_, true
from sqlalchemy.sql.elements import UnaryExpression

from graphql_api.data.fields import FIELDS, LOG, SORTABLE, Field
from graphql_api.data.kinds import DATETIME, ID, INT, INT_MAX, INT_MIN, STRING, canonical_id, utc
from graphql_api.data.storable import text_problem
from graphql_api.errors import BadUserInput, QueryTooComplex

Op = Literal[
    "eq",
    "ne",
    "in",
    "not_in",
    "contains",
    "not_contains",
    "starts_with",
    "ends_with",
    "gt",
    "gte",
    "lt",
    "lte",
    "is_null",
]

MAX_PAGE_SIZE = 100


@dataclass(frozen=True)
class Condition:
    field: str
    op: Op
    value: Any


@dataclass(frozen=True)
class All:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class AnyOf:
    parts: tuple[Node, ...]


@dataclass(frozen=True)
class Not:
    part: Node


Node = Condition | All | AnyOf | Not


@dataclass(frozen=True)
class SortKey:
    field: str
    descending: bool


DEFAULT_ORDER: tuple[SortKey, ...] = (SortKey("createdAt", descending=True),)


def depth(node: Node | None) -> int:
    """How deeply `and` / `or` / `not` nest in a filter (a plain condition is depth 0)."""
    if node is None or isinstance(node, Condition):
        return 0
    if isinstance(node, Not):
        return 1 + depth(node.part)
    return 1 + max((depth(p) for p in node.parts), default=0)


def size(node: Node | None) -> int:
    """How many conditions a filter holds, at every level of `and` / `or` / `not`."""
    if node is None:
        return 0
    if isinstance(node, Condition):
        return 1
    if isinstance(node, Not):
        return size(node.part)
    return sum(size(p) for p in node.parts)


def _value(f: Field, value: Any) -> Any:
    """Check one operand against the field's type; ids that are not UUIDs become None (match nothing)."""
    if f.kind is ID:
        if not isinstance(value, str):
            raise BadUserInput(f"`{f.name}` takes an id, not {type(value).__name__}.")
        return canonical_id(value)
    if f.kind is STRING:
        if not isinstance(value, str):
            raise BadUserInput(f"`{f.name}` takes a string, not {type(value).__name__}.")
        problem = text_problem(value)
        if problem is not None:
            raise BadUserInput(f"`{f.name}` values {problem}.")
        return value
    if f.kind is INT:
        if isinstance(value, bool) or not isinstance(value, int):
            raise BadUserInput(f"`{f.name}` takes an integer.")
        if not INT_MIN <= value <= INT_MAX:
            raise BadUserInput(f"`{f.name}` takes a 32-bit integer.")
        return value
    assert f.kind is DATETIME
    if not isinstance(value, datetime):
        raise BadUserInput(f"`{f.name}` takes a date-time.")
    return utc(value)


def _condition(c: Condition, max_in_items: int) -> ColumnElement[bool]:
    f = FIELDS.get(c.field)
    if f is None:
        raise BadUserInput(f"Unknown field `{c.field}`.")
    if c.op not in f.kind.operators:
        raise BadUserInput(f"`{f.name}` does not support the `{c.op}` operator.")
    col = f.column

    def guarded(expr: ColumnElement[bool]) -> ColumnElement[bool]:
        # A comparison with NULL is NULL; pin it to false so that negation stays exact.
        return and_(col.is_not(None), expr) if f.nullable else expr

    def or_null(expr: ColumnElement[bool]) -> ColumnElement[bool]:
        return or_(col.is_(None), expr) if f.nullable else expr

    if c.op == "is_null":
        if not isinstance(c.value, bool):
            raise BadUserInput(f"`{f.name}.isNull` takes true or false.")
        return col.is_(None) if c.value else col.is_not(None)

    if c.op in ("in", "not_in"):
        if not isinstance(c.value, (list, tuple)):
            raise BadUserInput(f"`{f.name}` takes a list for `{c.op}`.")
        if len(c.value) > max_in_items:
            raise BadUserInput(f"`{f.name}` takes at most {max_in_items} values in a list.")
        values = [v for v in (_value(f, item) for item in c.value) if v is not None]
        if c.op == "in":
            return guarded(col.in_(values)) if values else false()
        return or_null(col.not_in(values)) if values else true()

    value = _value(f, c.value)
    if value is None:  # an id that is not a UUID equals no row
        return true() if c.op == "ne" else false()
    if c.op == "eq":
        return guarded(col == value)
    if c.op == "ne":
        return or_null(col != value)
    if c.op == "contains":
        return guarded(col.icontains(value, autoescape=True))
    if c.op == "not_contains":
        return or_null(not_(col.icontains(value, autoescape=True)))
    if c.op == "starts_with":
        return guarded(col.istartswith(value, autoescape=True))
    if c.op == "ends_with":
        return guarded(col.iendswith(value, autoescape=True))
    comparisons = {"gt": col > value, "gte": col >= value, "lt": col < value, "lte": col <= value}
    return guarded(comparisons[c.op])


def to_sql(
    node: Node | None, *, max_depth: int = 10, max_in_items: int = 500, max_conditions: int = 100
) -> ColumnElement[bool]:
    """The WHERE clause for a filter; raises for unknown fields, bad values, too deep nesting or too many
    conditions."""
    if node is None:
        return true()
    if depth(node) > max_depth:
        raise QueryTooComplex(f"Filters may nest `and`/`or`/`not` at most {max_depth} levels deep.")
    conditions = size(node)
    if conditions > max_conditions:
        raise QueryTooComplex(too_many_conditions(conditions, max_conditions))
    return _compile(node, max_in_items)


def too_many_conditions(conditions: int, most: int) -> str:
    return (
        f"The filters hold {conditions} conditions; at most {most} are allowed per request (all filters "
        "together). Use `in` for a list of values."
    )


def _compile(node: Node, max_in_items: int) -> ColumnElement[bool]:
    if isinstance(node, Condition):
        return _condition(node, max_in_items)
    if isinstance(node, Not):
        return not_(_compile(node.part, max_in_items))
    parts = [_compile(p, max_in_items) for p in node.parts]
    if isinstance(node, All):
        return and_(true(), *parts)
    return or_(false(), *parts)


def order_by(keys: Sequence[SortKey]) -> list[UnaryExpression[Any]]:
    """ORDER BY for the sort keys, with `id` in the last key's direction as the final tie-breaker."""
    keys = tuple(keys) or DEFAULT_ORDER
    clauses: list[UnaryExpression[Any]] = []
    for key in keys:
        f = SORTABLE.get(key.field)
        if f is None:
            raise BadUserInput(f"Cannot sort by `{key.field}`; sortable fields are: {', '.join(SORTABLE)}.")
        clause = f.column.desc() if key.descending else f.column.asc()
        if f.nullable:
            # The same place for nulls on every backend: first going up, last going down.
            clause = clause.nulls_last() if key.descending else clause.nulls_first()
        clauses.append(clause)
    clauses.append(LOG.c.id.desc() if keys[-1].descending else LOG.c.id.asc())
    return clauses


def check_page(*, skip: int, limit: int, skip_name: str = "skip", limit_name: str = "limit") -> None:
    """Reject pages outside 0 <= skip and 1 <= limit <= 100, naming the argument and its bounds."""
    if isinstance(skip, bool) or not isinstance(skip, int) or skip < 0 or skip > INT_MAX:
        raise BadUserInput(f"`{skip_name}` must be an integer of at least 0 (got {skip!r}).")
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_PAGE_SIZE:
        raise BadUserInput(
            f"`{limit_name}` must be an integer between 1 and {MAX_PAGE_SIZE} (got {limit!r})."
        )


def sort_keys(keys: Sequence[SortKey]) -> tuple[SortKey, ...]:
    """The sort keys a query really uses: the default order when none are given."""
    return tuple(keys) or DEFAULT_ORDER


def reverse(keys: Sequence[SortKey]) -> tuple[SortKey, ...]:
    """The opposite order; with nulls always lowest, `order_by` of it is exactly the reversed ORDER BY."""
    return tuple(SortKey(k.field, not k.descending) for k in sort_keys(keys))


def _beyond(col: Any, value: Any, nullable: bool, *, greater: bool, or_equal: bool) -> ColumnElement[bool]:
    """`col` after `value` going up (`greater`) or down, where null is lower than every value."""
    if greater:
        if value is None:
            return true() if or_equal else col.is_not(None)
        expr = col >= value if or_equal else col > value
        return and_(col.is_not(None), expr) if nullable else expr
    if value is None:
        return col.is_(None) if or_equal else false()
    expr = col <= value if or_equal else col < value
    return or_(col.is_(None), expr) if nullable else expr


def seek(keys: Sequence[SortKey], values: Sequence[Any], last_id: str) -> ColumnElement[bool]:
    """The keyset condition: rows strictly after (`values`, `last_id`) in the order of `keys`.

    Expanded as (k1 beyond v1) or (k1 = v1 and k2 beyond v2) ... or (all equal and id beyond), with a
    redundant `k1 >= v1` (or `<=`) in front so that an index on the first key is entered at the cursor
    instead of being scanned from its start.
    """
    keys = sort_keys(keys)
    if len(values) != len(keys):
        raise BadUserInput("The cursor does not match the sort order.")
    columns = [
        (SORTABLE[k.field].column, v, SORTABLE[k.field].nullable, not k.descending)
        for k, v in zip(keys, values, strict=True)
    ]
    columns.append((LOG.c.id, last_id, False, not keys[-1].descending))
    alternatives: list[ColumnElement[bool]] = []
    equal: list[ColumnElement[bool]] = []
    for col, value, nullable, ascending in columns:
        beyond = _beyond(col, value, nullable, greater=ascending, or_equal=False)
        alternatives.append(and_(true(), *equal, beyond))
        equal.append(col.is_(None) if value is None else col == value)
    first_col, first_value, first_nullable, first_ascending = columns[0]
    entry = _beyond(first_col, first_value, first_nullable, greater=first_ascending, or_equal=True)
    return and_(entry, or_(false(), *alternatives))
