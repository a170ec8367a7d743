"""Compiled statements as the database driver takes them: SQL text and positional parameters.

SQLAlchemy compiles each statement once (IN lists expanded, values bound, never interpolated, the bind
processors of the column types applied: data/driver_sql.py), so that a request only fills in the
caller's project id and hands the SQL to the driver.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from sqlalchemy import Select
from sqlalchemy.engine import Dialect

from graphql_api.compiler.statements import PROJECT_PARAM
from graphql_api.data.driver_sql import compile_positional


@dataclass(frozen=True)
class DriverStatement:
    sql: str
    params: tuple[Any, ...]
    project_slots: tuple[int, ...]  # where the caller's project id goes
    project_processor: Callable[[Any], Any] | None

    def parameters(self, project_id: str) -> Sequence[Any]:
        if not self.project_slots:
            return self.params
        value = _processed(self.project_processor, project_id) if self.project_processor else project_id
        params = list(self.params)
        for slot in self.project_slots:
            params[slot] = value
        return params


@lru_cache(maxsize=4096)
def _processed(processor: Callable[[Any], Any], project_id: str) -> Any:
    """A project id as the driver takes it (canonical UUID text: a `uuid.UUID` made and printed), once
    per project rather than per request."""
    return processor(project_id)


def to_driver(statement: Select[Any], dialect: Dialect) -> DriverStatement:
    positional = compile_positional(statement, dialect, given=(PROJECT_PARAM,))
    return DriverStatement(
        sql=positional.sql,
        params=positional.params,
        project_slots=positional.slots.get(PROJECT_PARAM, ()),
        project_processor=positional.processors.get(PROJECT_PARAM),
    )
