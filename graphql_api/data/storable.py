"""What a value must be for every database to take it: the one definition GraphQL filters, REST queries,
JSON bodies and the importer all check against, so each refuses the same values with the same reason.

Text: no NUL (PostgreSQL's `text` cannot hold U+0000; SQLite can, so it is refused on both to answer
alike) and no lone UTF-16 surrogate (JSON's `\\u` escapes can make half a character, which no UTF-8
database or answer can carry). Dates: an instant within the years 1 to 9999 once in UTC.
Imports only the standard library.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

NUL = "cannot contain the NUL character (U+0000)"
LONE_SURROGATE = "cannot contain half a character (a lone UTF-16 surrogate, as a \\u escape makes one)"
OUTSIDE_CALENDAR = "is outside the years 1 to 9999 in UTC"
NOT_ISO_8601 = "is not an ISO 8601 date or date-time"


def _has_lone_surrogate(text: str) -> bool:
    if text.isascii():
        return False
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def text_problem(text: str) -> str | None:
    """Why no database can store `text` (a phrase such as "cannot contain …"), or None."""
    if "\x00" in text:
        return NUL
    if _has_lone_surrogate(text):
        return LONE_SURROGATE
    return None


def has_lone_surrogate(raw: str | bytes | bytearray, value: Any) -> bool:
    """Whether decoded JSON holds a string or key with a lone surrogate. Only a `\\u` escape in the raw
    text makes one, so the usual body, without any, costs one substring search."""
    if (isinstance(raw, str) and "\\u" not in raw) or (not isinstance(raw, str) and b"\\u" not in raw):
        return False
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _has_lone_surrogate(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


class OutsideCalendar(ValueError):
    """An ISO 8601 date-time whose UTC instant falls before year 1 or after year 9999."""


def parse_instant(text: str) -> datetime:
    """An ISO 8601 date-time in UTC (a date alone is midnight UTC; no offset means UTC). Raises
    OutsideCalendar, or ValueError when `text` is no ISO 8601 date-time at all; str() says which."""
    try:
        parsed = datetime.fromisoformat(text.strip())
    except ValueError:
        raise ValueError(NOT_ISO_8601) from None
    if parsed.tzinfo is None:
        return parsed.replace(tzinfo=UTC)
    try:
        return parsed.astimezone(UTC)
    except OverflowError:
        raise OutsideCalendar(OUTSIDE_CALENDAR) from None
