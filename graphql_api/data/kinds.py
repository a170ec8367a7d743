"""The four kinds of value a log field holds (id, string, int, datetime), each defined once.

A kind says which filter operators apply, which JSON type a client sends for it (REST filters,
the importer), how a value is written into a cursor and read back, and which GraphQL scalar and filter
input it has by default. Filters, REST, the importer, cursors and the schema all ask the kind.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

INT_MIN, INT_MAX = -(2**31), 2**31 - 1

_COMMON: frozenset[str] = frozenset({"eq", "ne", "in", "not_in", "is_null"})
_ORDERED = _COMMON | {"gt", "gte", "lt", "lte"}
_TEXT = _COMMON | {"contains", "not_contains", "starts_with", "ends_with"}


def utc(moment: datetime) -> datetime:
    """The same instant as an aware UTC datetime; a naive one is read as UTC (the stored convention)."""
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def canonical_id(value: object) -> str | None:
    """The canonical text of a UUID, or None when `value` is not one."""
    if not isinstance(value, str):
        return None
    try:
        return str(uuid.UUID(value))
    except ValueError:
        return None


@dataclass(frozen=True, eq=False)
class Kind:
    """One kind of value. Compared by identity: `field.kind is DATETIME`."""

    name: str
    scalar: str  # the GraphQL scalar of a field of this kind, unless the field names another
    filter_input: str  # the GraphQL filter input type of this kind
    operators: frozenset[str] = field(repr=False)
    expected: str  # what a REST client must send, e.g. "a whole number"

    def __str__(self) -> str:
        return self.name

    def accepts_json(self, value: object) -> bool:
        """Whether a decoded JSON value has this kind's JSON type (text for ids and dates)."""
        if self is INT:
            return isinstance(value, int) and not isinstance(value, bool)
        return isinstance(value, str)

    def dump(self, value: Any) -> Any:
        """A stored value as JSON (a cursor's payload): dates as ISO 8601 text."""
        return value.isoformat() if isinstance(value, datetime) else value

    def load(self, value: Any) -> Any:
        """A value written by `dump`, read back."""
        if value is None:
            return None
        if self is DATETIME:
            return datetime.fromisoformat(value)
        if self is INT:
            return int(value)
        return str(value)


ID = Kind("id", "ID", "IDFilter", _COMMON, "an ID string")
STRING = Kind("string", "String", "StringFilter", _TEXT, "a string")
INT = Kind("int", "Int", "IntFilter", _ORDERED, "a whole number")
DATETIME = Kind("datetime", "DateTime", "DateTimeFilter", _ORDERED, "an ISO 8601 date or date-time string")
