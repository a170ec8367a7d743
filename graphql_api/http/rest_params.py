"""The platform's REST wire format (`select`, `query`, `sort`, `skip`/`limit`) read into the neutral form.

Field names, operators per field kind, sort keys and page bounds all come from fields.py and
filters.py; this module only knows how the platform's clients spell them.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from graphql_api.data.fields import FIELDS, PROJECT, RELATIONS, SORTABLE, Field, Relation
from graphql_api.data.filters import All, Condition, Node, SortKey, check_page
from graphql_api.data.kinds import DATETIME, ID, INT, STRING, Kind
from graphql_api.data.storable import OUTSIDE_CALENDAR, OutsideCalendar, parse_instant, text_problem
from graphql_api.errors import BadUserInput

RESOURCE = "WhatsApp Log"
DEFAULT_LIMIT = 10

# REST name (`_id`, `projectId`, …) -> API name used by fields.FIELDS.
WIRE_FIELDS: dict[str, str] = {f.rest_name: name for name, f in FIELDS.items()}
WIRE_RELATIONS: dict[str, Relation] = {**RELATIONS, PROJECT.name: PROJECT}

# Tagged values mean equality on their value; each fits one kind of field.
TAGS: dict[str, Kind] = {"DateTime": DATETIME, "ObjectID": ID, "Phone": STRING}

# The platform's operators -> the neutral operator (InBetween, Includes, IsNull, NotNull apart).
COMPARISONS: dict[str, str] = {
    "EqualTo": "eq",
    "NotEqual": "ne",
    "Search": "contains",
    "StartsWith": "starts_with",
    "EndsWith": "ends_with",
    "NotContains": "not_contains",
    "GreaterThan": "gt",
    "GreaterThanOrEqual": "gte",
    "LessThan": "lt",
    "LessThanOrEqual": "lte",
}
# The neutral operator a field kind must support for each of the platform's operators.
NEEDS: dict[str, str] = {
    **COMPARISONS,
    "Includes": "in",
    "InBetween": "gte",
    "IsNull": "is_null",
    "NotNull": "is_null",
}
TRIMMED = frozenset({"Search", "StartsWith", "EndsWith"})


def relation_columns(relation: Relation) -> dict[str, str]:
    """The columns of a related record a client may select: REST name -> row attribute."""
    return {"_id": "id", relation.label: relation.label, "createdAt": "created_at"}


@dataclass(frozen=True)
class Select:
    """What to return for each log: API field names (id first) and relations with their REST columns."""

    fields: tuple[str, ...] = ("id",)
    relations: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def columns(self) -> list[str]:
        """The log fields to read: the selected ones and the foreign keys of selected relations."""
        keys = [WIRE_RELATIONS[name].foreign_key for name in self.relations]
        return list(dict.fromkeys([*self.fields, *keys]))


def _invalid_select(key: str, resource: str = RESOURCE) -> BadUserInput:
    return BadUserInput(
        f'Invalid select clause. Cannot select on "{key}". This column does not exist on {resource}.'
    )


def title(name: str) -> str:
    """`scheduledMaintenance` -> `Scheduled Maintenance`, for messages."""
    words = "".join(f" {c}" if c.isupper() else c for c in name)
    return words.title().strip()


def parse_select(value: object) -> Select:
    """A `select` clause; missing or empty selects `_id` only, as the platform does."""
    if value is None:
        return Select()
    if not isinstance(value, dict):
        raise BadUserInput('Invalid select clause. "select" must be an object such as {"_id": true}.')
    fields = ["id"]
    relations: dict[str, tuple[str, ...]] = {}
    for key, wanted in value.items():
        if key in WIRE_FIELDS:
            if not isinstance(wanted, bool):
                raise BadUserInput(f'Invalid select clause. "{key}" must be true or false.')
            if wanted:
                fields.append(WIRE_FIELDS[key])
        elif key in WIRE_RELATIONS:
            columns = _select_relation(key, WIRE_RELATIONS[key], wanted)
            if columns:
                relations[key] = columns
        else:
            raise _invalid_select(key)
    return Select(tuple(dict.fromkeys(fields)), relations)


def _select_relation(key: str, relation: Relation, wanted: object) -> tuple[str, ...]:
    """The REST columns selected on a relation (`_id` always first); empty when not selected."""
    if wanted is True:
        return ("_id",)
    if wanted is False:
        return ()
    if not isinstance(wanted, dict):
        raise BadUserInput(f'Invalid select clause. "{key}" must be true, false or an object of columns.')
    allowed = relation_columns(relation)
    columns = ["_id"]
    for column, flag in wanted.items():
        if isinstance(flag, dict):
            raise BadUserInput(
                f'Invalid select clause. "{key}.{column}": relations can be selected one level deep only.'
            )
        if column not in allowed:
            raise _invalid_select(f"{key}.{column}", title(relation.name))
        if not isinstance(flag, bool):
            raise BadUserInput(f'Invalid select clause. "{key}.{column}" must be true or false.')
        if flag:
            columns.append(column)
    return tuple(dict.fromkeys(columns))


def _wrong_type(key: str, expected: str, value: object) -> BadUserInput:
    shown = json.dumps(value, default=str)
    return BadUserInput(f'Invalid value for "{key}": expected {expected}, got {shown}.')


def _plain(key: str, f: Field, value: object) -> Any:
    """One operand: a plain JSON value or a tagged one, checked against the field's kind."""
    if isinstance(value, dict):
        tag = value.get("_type")
        if not isinstance(tag, str) or tag not in TAGS or set(value) != {"_type", "value"}:
            raise _wrong_type(key, f.kind.expected, value)
        if TAGS[tag] is not f.kind:
            raise BadUserInput(f'Invalid value for "{key}": a {tag} value does not fit this field.')
        value = value["value"]
    if not f.kind.accepts_json(value):
        raise _wrong_type(key, f.kind.expected, value)
    if f.kind is INT:
        return value
    if f.kind is DATETIME:
        try:
            return parse_instant(value)  # type: ignore[arg-type]
        except OutsideCalendar:
            raise BadUserInput(
                f'Invalid value for "{key}": {json.dumps(value)} {OUTSIDE_CALENDAR}.'
            ) from None
        except ValueError:
            raise _wrong_type(key, f.kind.expected, value) from None
    problem = text_problem(value)  # type: ignore[arg-type]
    if problem is not None:
        raise BadUserInput(f'Invalid value for "{key}": text {problem}.')
    return value


def _operator(key: str, name: str, f: Field, spec: dict[str, Any]) -> Node:
    """One `{"_type": <Operator>, ...}` object on field `name`."""
    tag = spec["_type"]
    if isinstance(tag, str) and tag in TAGS:
        return Condition(name, "eq", _plain(key, f, spec))
    needed = NEEDS.get(tag) if isinstance(tag, str) else None
    if needed is None:
        raise BadUserInput(f'Invalid query for "{key}": unknown operator {tag!r}.')
    if needed not in f.kind.operators:
        raise BadUserInput(f'Invalid query for "{key}": the {tag} operator does not apply to this field.')
    if tag in ("IsNull", "NotNull"):
        return Condition(name, "is_null", tag == "IsNull")
    if tag == "InBetween":
        if "startValue" not in spec or "endValue" not in spec:
            raise BadUserInput(f'Invalid query for "{key}": InBetween needs "startValue" and "endValue".')
        start, end = _plain(key, f, spec["startValue"]), _plain(key, f, spec["endValue"])
        return All((Condition(name, "gte", start), Condition(name, "lte", end)))
    if "value" not in spec:
        raise BadUserInput(f'Invalid query for "{key}": the {tag} operator needs a "value".')
    value = spec["value"]
    if tag == "Includes":
        if not isinstance(value, list):
            raise _wrong_type(key, "a list for Includes", value)
        return Condition(name, "in", [_plain(key, f, item) for item in value])
    operand = _plain(key, f, value)
    if tag in TRIMMED:
        operand = operand.strip()
    return Condition(name, COMPARISONS[tag], operand)  # type: ignore[arg-type]


def parse_query(value: object) -> Node | None:
    """A `query` clause: every key must hold; None when there is nothing to filter."""
    if value is None:
        return None
    if not isinstance(value, dict):
        raise BadUserInput('Invalid query: "query" must be an object such as {"status": "Sent"}.')
    parts: list[Node] = []
    for key, spec in value.items():
        name = WIRE_FIELDS.get(key)
        if name is None:
            raise BadUserInput(f"Invalid column on {RESOURCE} - {key}. Column does not exist.")
        f = FIELDS[name]
        if spec is None:
            parts.append(Condition(name, "is_null", True))
        elif isinstance(spec, list):
            parts.append(Condition(name, "in", [_plain(key, f, item) for item in spec]))
        elif isinstance(spec, dict) and "_type" in spec:
            parts.append(_operator(key, name, f, spec))
        else:
            parts.append(Condition(name, "eq", _plain(key, f, spec)))
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else All(tuple(parts))


def parse_sort(value: object) -> list[SortKey]:
    """A `sort` clause such as `{"createdAt": "DESC"}`; empty means newest first."""
    if value is None:
        return []
    if not isinstance(value, dict):
        raise BadUserInput('Invalid sort: "sort" must be an object such as {"createdAt": "DESC"}.')
    keys: list[SortKey] = []
    for key, direction in value.items():
        name = WIRE_FIELDS.get(key)
        if name not in SORTABLE:
            raise BadUserInput(
                f'Invalid sort: cannot sort by "{key}". Sortable columns: {", ".join(SORTABLE)}.'
            )
        keys.append(SortKey(name, descending=_descending(key, direction)))
    return keys


def _descending(key: str, direction: object) -> bool:
    if isinstance(direction, str) and direction.upper() in ("ASC", "DESC"):
        return direction.upper() == "DESC"
    if not isinstance(direction, bool) and direction in (1, -1):
        return direction == -1
    raise BadUserInput(f'Invalid sort direction for "{key}": use "ASC", "DESC", 1 or -1.')


def _page_number(value: object) -> object:
    """A number from the query string or body; anything else is passed on for check_page to refuse."""
    if isinstance(value, str):
        text = value.strip()
        # ASCII digits only: str.isdigit() also takes '١٠' and '²'.
        if text.isascii() and text.lstrip("-").isdigit() and len(text) < 20:
            return int(text)
    return value


def parse_page(params: Mapping[str, str], body: Mapping[str, Any]) -> tuple[int, int]:
    """`skip` (alias `offset`) and `limit` from the query string, else the body; bounds checked."""
    skip: object = 0
    skip_name = "skip"
    limit: object = DEFAULT_LIMIT
    # The query string wins over the body; null counts as not given.
    for source in (body, params):
        for name in ("offset", "skip"):
            if source.get(name) is not None:
                skip, skip_name = source[name], name
        if source.get("limit") is not None:
            limit = source["limit"]
    skip, limit = _page_number(skip), _page_number(limit)
    check_page(skip=skip, limit=limit, skip_name=skip_name)  # type: ignore[arg-type]
    return skip, limit  # type: ignore[return-value]
