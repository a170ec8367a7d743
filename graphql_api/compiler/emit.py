"""SQL that builds JSON, per dialect: SQLite `json_object`/`json_group_array`, PostgreSQL
`json_build_object`/`json_agg`. Each construct renders to text that equals, after JSON parsing, what
Strawberry serializes for the same values.

Keys keep the GraphQL selection order: SQLite's `json_object` keeps insertion order and PostgreSQL's
`json` (not `jsonb`) does too. Functions take at most 127 arguments on SQLite and 100 on PostgreSQL, so
wide objects are built in chunks and spliced as text.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import ColumnElement, literal_column
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement
from sqlalchemy.types import Integer, LargeBinary, String, Text

_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]*$")

# Pairs per call: SQLite allows 127 arguments per function, PostgreSQL 100.
_CHUNK = {"sqlite": 63, "postgresql": 50}


def key(name: str) -> ColumnElement[Any]:
    """A JSON key as an SQL string literal; GraphQL names need no escaping, so none is allowed."""
    if not _NAME.match(name):
        raise ValueError(f"not a GraphQL name: {name!r}")
    return literal_column(f"'{name}'", String())


def constant(text: str) -> ColumnElement[Any]:
    """A constant JSON string such as a `__typename` (a GraphQL name, so it needs no escaping)."""
    return key(text)


class JsonObject(FunctionElement[str]):
    """A JSON object from alternating keys and values, keys in the given order."""

    type = Text()
    inherit_cache = True


class JsonArray(FunctionElement[str]):
    """Aggregate: a JSON array of the rows' objects (`[]` for no rows), ordered by the second argument."""

    type = Text()
    inherit_cache = True


class IsoDateTime(FunctionElement[str]):
    """A UTC timestamp as Python's `isoformat()` writes it: microseconds only when not zero, `+00:00`."""

    type = Text()
    inherit_cache = True


class Int32(FunctionElement[int]):
    """A GraphQL Int: a value outside 32 bits makes the statement fail, and the regular path then
    answers with its own error."""

    type = Integer()
    inherit_cache = True


def _args(element: FunctionElement[Any], compiler: SQLCompiler, **kw: Any) -> list[str]:
    return [compiler.process(clause, **kw) for clause in element.clauses]


def _chunks(args: list[str], size: int) -> list[list[str]]:
    pairs = [args[i : i + 2] for i in range(0, len(args), 2)]
    return [[a for pair in pairs[i : i + size] for a in pair] for i in range(0, len(pairs), size)]


@compiles(JsonObject, "sqlite")
def _object_sqlite(element: JsonObject, compiler: SQLCompiler, **kw: Any) -> str:
    parts = [f"json_object({', '.join(chunk)})" for chunk in _chunks(_args(element, compiler, **kw), 63)]
    if len(parts) == 1:
        return parts[0]
    # `{"a":1}` + `{"b":2}` -> `{"a":1,"b":2}`; json() gives the text back its JSON type.
    spliced = parts[0]
    for part in parts[1:]:
        spliced = f"substr({spliced}, 1, length({spliced}) - 1) || ',' || substr({part}, 2)"
    return f"json({spliced})"


@compiles(JsonObject, "postgresql")
def _object_postgresql(element: JsonObject, compiler: SQLCompiler, **kw: Any) -> str:
    parts = [
        f"json_build_object({', '.join(chunk)})" for chunk in _chunks(_args(element, compiler, **kw), 50)
    ]
    if len(parts) == 1:
        return parts[0]
    texts = [f"CAST({part} AS text)" for part in parts]
    spliced = texts[0]
    for part in texts[1:]:
        spliced = f"left({spliced}, -1) || ',' || substr({part}, 2)"
    return f"CAST({spliced} AS json)"


@compiles(JsonArray, "sqlite")
def _array_sqlite(element: JsonArray, compiler: SQLCompiler, **kw: Any) -> str:
    value, _order = _args(element, compiler, **kw)
    # SQLite 3.40 has no ORDER BY inside aggregates; rows come in the (limited, hence kept and not
    # flattened) ordered subquery's order, and relations are scalar subqueries, never joins.
    return f"json_group_array({value})"


@compiles(JsonArray, "postgresql")
def _array_postgresql(element: JsonArray, compiler: SQLCompiler, **kw: Any) -> str:
    value, order = _args(element, compiler, **kw)
    return f"coalesce(json_agg({value} ORDER BY {order}), CAST('[]' AS json))"


class JoinedArray(FunctionElement[str]):
    """Aggregate: the rows' JSON texts joined into an array (`[]` for no rows), in the rows' order;
    SQLite only (no parsing: the texts are already JSON)."""

    type = Text()
    inherit_cache = True


@compiles(JoinedArray, "sqlite")
def _joined_sqlite(element: JoinedArray, compiler: SQLCompiler, **kw: Any) -> str:
    (value,) = _args(element, compiler, **kw)
    return f"'[' || coalesce(group_concat({value}, ','), '') || ']'"


@compiles(IsoDateTime, "sqlite")
def _datetime_sqlite(element: IsoDateTime, compiler: SQLCompiler, **kw: Any) -> str:
    # SQLAlchemy stores naive UTC text, `YYYY-MM-DD HH:MM:SS.ffffff` (26 characters). Any other text
    # makes the statement fail (json('!')), and the regular path, which parses anything ISO, answers.
    (c,) = _args(element, compiler, **kw)
    return (
        f"CASE length({c}) WHEN 26 THEN CASE substr({c}, 21) "
        f"WHEN '000000' THEN replace(substr({c}, 1, 19), ' ', 'T') ELSE replace({c}, ' ', 'T') END "
        f"WHEN 19 THEN replace({c}, ' ', 'T') "
        f"ELSE CASE WHEN {c} IS NULL THEN NULL ELSE json('!') END END || '+00:00'"
    )


@compiles(IsoDateTime, "postgresql")
def _datetime_postgresql(element: IsoDateTime, compiler: SQLCompiler, **kw: Any) -> str:
    # Six fraction digits always, then none when they are all zero (the only ".000000" in the text);
    # date_trunc in a CASE would cost three times as much.
    (c,) = _args(element, compiler, **kw)
    text = f"""to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US')"""
    return f"replace({text}, '.000000', '') || '+00:00'"


@compiles(Int32, "sqlite")
def _int_sqlite(element: Int32, compiler: SQLCompiler, **kw: Any) -> str:
    (c,) = _args(element, compiler, **kw)
    # json('!') raises "malformed JSON": the statement fails and the regular path takes over.
    return (
        f"CASE WHEN {c} IS NULL OR (typeof({c}) = 'integer' AND {c} BETWEEN -2147483648 AND 2147483647) "
        f"THEN {c} ELSE json('!') END"
    )


@compiles(Int32, "postgresql")
def _int_postgresql(element: Int32, compiler: SQLCompiler, **kw: Any) -> str:
    (c,) = _args(element, compiler, **kw)
    # Columns are `integer`, but sums are `bigint`: out of range, a failing cast (at run time, unlike
    # a constant 1/0) hands the request to the regular path.
    return (
        f"CASE WHEN {c} IS NULL OR {c} BETWEEN -2147483648 AND 2147483647 THEN {c} "
        f"ELSE CAST(CAST({c} AS text) || '!' AS integer) END"
    )


class JsonBytes(FunctionElement[bytes]):
    """A statement's JSON as UTF-8 bytes: the driver hands them over without decoding or parsing."""

    type = LargeBinary()
    inherit_cache = True


@compiles(JsonBytes, "sqlite")
def _bytes_sqlite(element: JsonBytes, compiler: SQLCompiler, **kw: Any) -> str:
    (c,) = _args(element, compiler, **kw)
    return f"CAST({c} AS BLOB)"


@compiles(JsonBytes, "postgresql")
def _bytes_postgresql(element: JsonBytes, compiler: SQLCompiler, **kw: Any) -> str:
    (c,) = _args(element, compiler, **kw)
    return f"convert_to(CAST({c} AS text), 'UTF8')"


class JsonBool(FunctionElement[str]):
    """A JSON true/false from an SQL condition (SQLite has no boolean type)."""

    type = Text()
    inherit_cache = True


@compiles(JsonBool, "sqlite")
def _bool_sqlite(element: JsonBool, compiler: SQLCompiler, **kw: Any) -> str:
    (c,) = _args(element, compiler, **kw)
    return f"CASE WHEN {c} THEN json('true') ELSE json('false') END"


@compiles(JsonBool, "postgresql")
def _bool_postgresql(element: JsonBool, compiler: SQLCompiler, **kw: Any) -> str:
    (c,) = _args(element, compiler, **kw)
    return f"({c})"


class JsonList(FunctionElement[str]):
    """A JSON array of the given values, as text (the payload of a cursor)."""

    type = Text()
    inherit_cache = True


@compiles(JsonList, "sqlite")
def _list_sqlite(element: JsonList, compiler: SQLCompiler, **kw: Any) -> str:
    return f"json_array({', '.join(_args(element, compiler, **kw))})"


@compiles(JsonList, "postgresql")
def _list_postgresql(element: JsonList, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST(json_build_array({', '.join(_args(element, compiler, **kw))}) AS text)"
