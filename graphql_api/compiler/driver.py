"""Compiled statements as the database driver takes them: SQL text and positional parameters.

SQLAlchemy compiles each statement once (IN lists expanded, values bound, never interpolated); the
bind processors of the column types (UUID text, UTC timestamps) are applied here once too, so that a
request only fills in the caller's project id and hands the SQL to the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect

from graphql_api.compiler.statements import PROJECT_PARAM


@dataclass(frozen=True)
class DriverStatement:
    sql: str
    params: tuple[Any, ...]
    project_slots: tuple[int, ...]  # where the caller's project id goes
    project_processor: Callable[[Any], Any] | None

    def parameters(self, project_id: str) -> Sequence[Any]:
        if not self.project_slots:
            return self.params
        value = self.project_processor(project_id) if self.project_processor else project_id
        params = list(self.params)
        for slot in self.project_slots:
            params[slot] = value
        return params


def to_driver(statement: Select[Any], dialect: Dialect) -> DriverStatement:
    compiled = statement.compile(dialect=dialect)
    # IN lists expanded to one parameter per value, as SQLAlchemy's own execution expands them.
    expanded = compiled.construct_expanded_state()
    # Type processors (GUID, UTCDateTime...) as that execution would apply them.
    processors: dict[str, Any] = {
        **compiled._bind_processors,  # noqa: SLF001
        **expanded.processors,
    }
    params: list[Any] = []
    slots: list[int] = []
    for index, name in enumerate(expanded.positiontup or ()):
        if name == PROJECT_PARAM:
            slots.append(index)
            params.append(None)
            continue
        value = expanded.parameters[name]
        processor = processors.get(name)
        params.append(processor(value) if processor is not None and value is not None else value)
    return DriverStatement(
        sql=expanded.statement,
        params=tuple(params),
        project_slots=tuple(slots),
        project_processor=processors.get(PROJECT_PARAM),
    )
