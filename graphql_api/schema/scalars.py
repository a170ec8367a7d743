"""Custom scalars: Phone, and a DateTime that always carries a UTC offset."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import NewType

import strawberry
from strawberry.types.scalar import ScalarDefinition

Phone = NewType("Phone", str)

MAX_PHONE_LENGTH = 30


def _parse_phone(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_PHONE_LENGTH:
        raise ValueError(f"a Phone is a string of at most {MAX_PHONE_LENGTH} characters")
    return value


def _serialize_datetime(value: datetime) -> str:
    return (value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)).isoformat()


def _parse_datetime(value: object) -> datetime:
    if not isinstance(value, str):
        raise ValueError("a DateTime is an ISO 8601 string")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise ValueError(f"not an ISO 8601 date-time: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


SCALARS: dict[object, ScalarDefinition] = {
    Phone: strawberry.scalar(
        name="Phone",
        description="A phone number in international format, as stored (for example `+1-555-123-4567`).",
        serialize=str,
        parse_value=_parse_phone,
    ),
    datetime: strawberry.scalar(
        name="DateTime",
        description=(
            "An ISO 8601 date-time with a UTC offset, such as `2026-07-21T09:30:00+00:00`. "
            "Inputs without an offset are read as UTC; a date alone means midnight UTC."
        ),
        serialize=_serialize_datetime,
        parse_value=_parse_datetime,
    ),
}
