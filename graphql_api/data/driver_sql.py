"""Statements compiled once to what the database driver takes: SQL text and positional parameters, with
the bind processors of the column types (UUID text, UTC timestamps) applied once to the values known
at compile time, and slots for the named parameters given at each run.

For statements that run so often that SQLAlchemy's per-execution work (its statement cache lookup,
parameter and result processing, a connection object) costs more than the statement itself: the
compiled path's (compiler/driver.py) and a live stream's batch (feed_queries.BatchReader). A
`DriverSelect` also turns the driver's rows into what SQLAlchemy would have returned (records).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect

from graphql_api.data.queries import record_type

Processor = Callable[[Any], Any] | None


@dataclass(frozen=True)
class Positional:
    """A statement's SQL and parameters in the driver's order: the values bound at compile time, None at
    each slot of a parameter named in `compile_positional`'s `given`."""

    sql: str
    params: tuple[Any, ...]
    slots: dict[str, tuple[int, ...]]  # a given parameter's name -> its positions
    processors: dict[str, Processor]  # a given parameter's name -> its bind processor


def compile_positional(statement: Select[Any], dialect: Dialect, given: Collection[str] = ()) -> Positional:
    """`statement` for the driver; the parameters named in `given` are left to fill at each run."""
    compiled = statement.compile(dialect=dialect)
    # IN lists expanded to one parameter per value, as SQLAlchemy's own execution expands them.
    # (The given ones filled with None for now: a parameter made without a value needs one here.)
    expanded = compiled.construct_expanded_state(params=dict.fromkeys(given))
    # Type processors (GUID, UTCDateTime...) as that execution would apply them.
    processors: dict[str, Any] = {
        **compiled._bind_processors,  # noqa: SLF001
        **expanded.processors,
    }
    params: list[Any] = []
    slots: dict[str, list[int]] = {}
    for index, name in enumerate(expanded.positiontup or ()):
        if name in given:
            slots.setdefault(name, []).append(index)
            params.append(None)
            continue
        value = expanded.parameters[name]
        processor = processors.get(name)
        params.append(processor(value) if processor is not None and value is not None else value)
    return Positional(
        sql=expanded.statement,
        params=tuple(params),
        slots={name: tuple(positions) for name, positions in slots.items()},
        processors={name: processors.get(name) for name in slots},
    )


@dataclass(frozen=True)
class DriverSelect:
    """A SELECT for the driver (`compile_select`): its parameters from the run's values, its rows as
    SQLAlchemy's result processing and queries.records would have made them."""

    positional: Positional
    columns: tuple[str, ...]
    result_processors: tuple[Processor, ...]

    @property
    def sql(self) -> str:
        return self.positional.sql

    def parameters(self, values: Mapping[str, Any]) -> list[Any]:
        params = list(self.positional.params)
        for name, positions in self.positional.slots.items():
            value = values[name]
            processor = self.positional.processors[name]
            if processor is not None and value is not None:
                value = processor(value)
            for position in positions:
                params[position] = value
        return params

    def records(self, rows: Sequence[Sequence[Any]]) -> list[Any]:
        make = record_type(self.columns)._make
        processors = self.result_processors
        if not any(processors):
            return [make(row) for row in rows]
        return [
            make([v if p is None or v is None else p(v) for p, v in zip(processors, row, strict=True)])
            for row in rows
        ]


def compile_select(statement: Select[Any], dialect: Dialect, given: Collection[str] = ()) -> DriverSelect:
    """`statement` for the driver, with the result processing of its columns' types."""
    columns = tuple(str(column.key) for column in statement.selected_columns)
    processors = tuple(
        column.type._cached_result_processor(dialect, None)  # noqa: SLF001
        for column in statement.selected_columns
    )
    return DriverSelect(compile_positional(statement, dialect, given), columns, processors)


def announce(dispatch: Any, sql: str, params: Sequence[Any]) -> None:
    """Tell an engine's `before_cursor_execute` listeners (`engine.sync_engine.dispatch`: metrics, tests
    counting statements) about a statement that runs past SQLAlchemy. They get no connection, cursor or
    execution context: there is none."""
    listeners = dispatch.before_cursor_execute
    if listeners:
        listeners(None, None, sql, params, None, False)
