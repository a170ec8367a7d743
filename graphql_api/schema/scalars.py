"""Custom scalars: Phone, BigInt (sums past 32 bits), and a DateTime that always carries a UTC offset."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import datetime
from typing import Any, NewType

import strawberry
from graphql import GraphQLError, ValueNode, value_from_ast_untyped
from strawberry.types.scalar import ScalarDefinition

from graphql_api.data.kinds import utc

Phone = NewType("Phone", str)
BigInt = NewType("BigInt", int)
# JavaScript reads integers exactly up to 2**53 - 1.
MAX_SAFE_INTEGER = 2**53 - 1

MAX_PHONE_LENGTH = 30

# `@specifiedBy` URLs: tools (GraphiQL, code generators) show them to say what a value looks like.
PHONE_SPEC = "https://www.itu.int/rec/T-REC-E.164"
# JSON numbers are exact between -(2**53 - 1) and 2**53 - 1 (RFC 8259, section 6).
BIG_INT_SPEC = "https://datatracker.ietf.org/doc/html/rfc8259#section-6"
DATETIME_SPEC = "https://datatracker.ietf.org/doc/html/rfc3339#section-5.6"


# An input that does not fit a scalar is refused with one sentence: what was expected, a valid example,
# what was found. A GraphQLError is used as is by graphql-core ("Variable '$d' has invalid value: " in
# front for a variable), where another exception would be quoted inside its own message.
DATETIME_EXAMPLE = '"2026-07-21T09:30:00Z"'


def _invalid(expected: str, value: object) -> GraphQLError:
    found = json.dumps(value, ensure_ascii=False, default=str)
    if len(found) > 60:
        found = found[:57] + "…"
    return GraphQLError(f"Expected {expected}, found {found}.")


def _literal(parse_value: Callable[[object], Any]) -> Callable[..., Any]:
    """parse_literal for a scalar: parse_value on the literal's value, its error located at the literal."""

    def parse_literal(node: ValueNode, variables: dict[str, Any] | None = None) -> Any:
        try:
            return parse_value(value_from_ast_untyped(node, variables))
        except GraphQLError as error:
            raise GraphQLError(error.message, node) from None

    return parse_literal


def _parse_phone(value: object) -> str:
    if not isinstance(value, str) or len(value) > MAX_PHONE_LENGTH:
        raise _invalid(
            f'a Phone, a string of at most {MAX_PHONE_LENGTH} characters such as "+1-555-123-4567"', value
        )
    return value


def _serialize_datetime(value: datetime) -> str:
    return utc(value).isoformat()


def _parse_datetime(value: object) -> datetime:
    expected = f"a DateTime, an ISO 8601 date-time string such as {DATETIME_EXAMPLE} or a date such as "
    expected += '"2026-07-21" (midnight UTC)'
    if not isinstance(value, str):
        raise _invalid(expected, value)
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise _invalid(expected, value) from None
    try:
        return utc(parsed)
    except OverflowError:
        raise _invalid(
            f"a DateTime within the years 1 to 9999 in UTC, such as {DATETIME_EXAMPLE}", value
        ) from None


def _serialize_big_int(value: int) -> int:
    if isinstance(value, bool) or not -MAX_SAFE_INTEGER <= int(value) <= MAX_SAFE_INTEGER:
        raise ValueError(f"BigInt cannot represent {value!r}")
    return int(value)


def _parse_big_int(value: object) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER
    ):
        raise _invalid("a BigInt, a whole number within ±(2^53 - 1) such as 1250", value)
    return value


SCALARS: dict[object, ScalarDefinition] = {
    Phone: strawberry.scalar(
        name="Phone",
        specified_by_url=PHONE_SPEC,
        description="A phone number in international format, as stored (for example `+1-555-123-4567`).",
        serialize=str,
        parse_value=_parse_phone,
        parse_literal=_literal(_parse_phone),
    ),
    BigInt: strawberry.scalar(
        name="BigInt",
        specified_by_url=BIG_INT_SPEC,
        description=(
            "A whole number that may exceed 32 bits (sums of costs), as a JSON number; exact up to "
            "2^53 - 1, as JavaScript reads it."
        ),
        serialize=_serialize_big_int,
        parse_value=_parse_big_int,
        parse_literal=_literal(_parse_big_int),
    ),
    datetime: strawberry.scalar(
        name="DateTime",
        specified_by_url=DATETIME_SPEC,
        description=(
            "An ISO 8601 date-time with a UTC offset, such as `2026-07-21T09:30:00+00:00`. "
            "Inputs without an offset are read as UTC; a date alone means midnight UTC."
        ),
        serialize=_serialize_datetime,
        parse_value=_parse_datetime,
        parse_literal=_literal(_parse_datetime),
    ),
}
