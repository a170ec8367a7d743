"""Engines: SQLite pragmas for the embedded default, pool options for PostgreSQL."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from graphql_api.settings import Settings


def _unicode_lower(value: object) -> object:
    # SQLite's own lower() folds ASCII only; PostgreSQL folds every letter. Same results on both.
    return value.lower() if isinstance(value, str) else value


def _configure_sqlite(engine: AsyncEngine) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=5000")
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()
        dbapi_connection.create_function("lower", 1, _unicode_lower, deterministic=True)


def create_engine(settings: Settings, *, url: str | None = None, for_requests: bool = False) -> AsyncEngine:
    """An engine for `url` (default: the primary database)."""
    target = make_url(url or settings.database_url)
    kwargs: dict[str, Any] = {}
    if target.get_backend_name() == "postgresql":
        kwargs.update(
            pool_size=settings.pool_size,
            max_overflow=settings.max_overflow,
            pool_timeout=settings.pool_timeout,
            pool_pre_ping=True,
        )
        if settings.statement_timeout_ms > 0:
            kwargs["connect_args"] = {
                "server_settings": {"statement_timeout": str(settings.statement_timeout_ms)},
            }
    engine = create_async_engine(target, **kwargs)
    if target.get_backend_name() == "sqlite":
        _configure_sqlite(engine)
    return engine


class Database:
    """The engines of one server process: one for reads (maybe a replica), one for writes."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings)
        self.read_engine = (
            create_engine(settings, url=settings.database_read_url)
            if settings.database_read_url
            else self.engine
        )

    @asynccontextmanager
    async def reader(self) -> AsyncIterator[AsyncConnection]:
        """A connection for the SELECTs of one request."""
        async with self.read_engine.connect() as conn:
            yield conn

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()
