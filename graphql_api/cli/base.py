"""What every command uses: the error it reports, its settings, the database it works on, the
projects there, dates given as options, and the progress bar.

The other layers are imported where they are used, so that a command loads only what it needs.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from graphql_api.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

T = TypeVar("T")


class CliError(Exception):
    """An error the user can act on; printed as one line."""


def settings_from(args: argparse.Namespace) -> Settings:
    """The environment's settings, with the options given on the command line."""
    overrides: dict[str, Any] = {}
    for name in ("database_url", "host", "port", "workers", "log_level"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings.from_env(**overrides)


async def with_engine(
    settings: Settings, work: Callable[[AsyncEngine], Awaitable[T]], *, migrated: bool = True
) -> T:
    """Run `work` on an engine for the primary database; `migrated`: refuse a database that is not
    migrated (without creating an SQLite file that does not exist)."""
    from graphql_api.data.database import create_engine
    from graphql_api.data.migrate import schema_problem

    engine = create_engine(settings)
    try:
        if migrated and (problem := await schema_problem(settings.database_url, engine)):
            raise CliError(problem)
        return await work(engine)
    finally:
        await engine.dispose()


async def project_list(settings: Settings) -> list[dict[str, str]]:
    """Every project of the database, as `{id, name}`."""
    from graphql_api.data import queries

    async def work(engine: AsyncEngine) -> list[dict[str, str]]:
        async with engine.connect() as conn:
            return [{"id": row.id, "name": row.name} for row in await queries.list_projects(conn)]

    return await with_engine(settings, work)


def parse_when(option: str, value: str) -> datetime:
    """An ISO 8601 date-time; UTC when it has no offset. An offset the user typed is kept (not
    `kinds.utc`), so that messages quote the moment as given; storing it converts to UTC."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"{option}: not an ISO 8601 date-time: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


def progress_bar(total: int | None) -> Any:
    """A bar on stderr when it is a terminal; `update(n)` counts n more logs."""
    from tqdm import tqdm

    return tqdm(total=total, unit="log", file=sys.stderr, disable=not sys.stderr.isatty())
