"""Runs compiled statements through the database driver itself; each statement returns one value (the
UTF-8 bytes of a JSON document, an integer, or no row).

SQLAlchemy's per-statement work (compiling, result processing) was done once when the statement was
compiled. On SQLite the statements run on plain sqlite3 connections of this module, on the event
loop's thread: a compiled page takes well under a millisecond, less than handing it to aiosqlite's
thread and back. A statement still running after a short budget is interrupted and run again in a
worker thread, and goes there directly from then on, so a slow count never holds up the loop.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from graphql_api.compiler.driver import DriverStatement
from graphql_api.data import work_budget
from graphql_api.data.database import (
    Database,
    api_error,
    configure_sqlite_connection,
    connect_error,
    request_connect_args,
)
from graphql_api.data.driver_sql import announce
from graphql_api.errors import ServiceUnavailable, WorkLimitExceeded
from graphql_api.schema.lru import LRU

# How much CPU time a statement may take on the event loop's thread before it moves to a worker
# thread (CPU time, so that a busy machine preempting the process does not count).
LOOP_BUDGET_SECONDS = 0.003
# Progress handler period, in SQLite virtual machine instructions (checking the clock is cheap).
_PROGRESS_STEPS = 2000


class _Interrupted(Exception):
    pass


class Elsewhere(Exception):
    """The statement is slow: it must run in a worker thread, which the caller did not allow."""


class _SqliteConnection:
    """A read-only sqlite3 connection whose progress handler stops a statement once the request's work
    budget is spent or the statement's CPU-time budget on this thread is past.

    A statement's clocks start at the handler's first call, _PROGRESS_STEPS instructions in: one shorter
    than that (a page of 10 takes some 1,600) reads no clock at all, where two reads of the thread's CPU
    time (system calls) were a twentieth of its cost. What a statement does before that first call (well
    under a millisecond) is not charged; a request's statements are few (the query limits), so its work
    budget still holds to within a few milliseconds."""

    def __init__(self, path: str) -> None:
        self.db = sqlite3.connect(path, check_same_thread=False, isolation_level=None, cached_statements=512)
        configure_sqlite_connection(self.db, read_only=True)
        # The statement running: its request's work budget, its own CPU-time budget (None: unlimited),
        # the thread's CPU time at the handler's last call (-1 before the first), and when it must stop.
        self.work: work_budget.WorkBudget | None = None
        self.budget: float | None = None
        self.last = -1.0
        self.deadline = float("inf")
        self.db.set_progress_handler(self._progress, _PROGRESS_STEPS)

    def _progress(self) -> int:
        """Charge the request's work budget; stop the statement (non-zero) once it or the loop's budget is
        spent."""
        now = time.thread_time()
        work = self.work
        if self.last >= 0:
            if work is not None:
                work.charge(now - self.last)
        elif self.budget is not None:
            self.deadline = now + self.budget
        self.last = now
        return 1 if (work is not None and work.exhausted) or now > self.deadline else 0

    def fetch(self, sql: str, params: Sequence[Any], budget: float | None) -> Any:
        """The statement's one value; on the calling thread, within the request's work budget, and within
        `budget` seconds of CPU time (else _Interrupted: it must run in a thread)."""
        work = self.work = work_budget.current()
        self.budget, self.last, self.deadline = budget, -1.0, float("inf")
        try:
            row = self.db.execute(sql, params).fetchone()
        except sqlite3.OperationalError as exc:
            if budget is not None and str(exc) == "interrupted" and not (work and work.exhausted):
                raise _Interrupted() from None
            raise
        finally:
            if work is not None and self.last >= 0:
                work.charge(time.thread_time() - self.last)
            self.work = None
        return None if row is None else row[0]


class _Announce:
    """Announces the compiled statements to the read engine's listeners (driver_sql.announce)."""

    def __init__(self, database: Database) -> None:
        self._dispatch = database.read_engine.sync_engine.dispatch

    def __call__(self, statement: DriverStatement, params: Sequence[Any]) -> None:
        announce(self._dispatch, statement.sql, params)


class SqliteRunner:
    def __init__(self, path: str, pool_size: int, announce: _Announce) -> None:
        self._announce = announce
        self._path = path
        self._pool_size = pool_size
        self._idle: list[_SqliteConnection] = []
        # Statements found slow, with their parameters: the same SQL is quick for another project, page or
        # filter value (a page `skip`ping 100,000 rows shares its text with the first page).
        self._slow: LRU[tuple[str, tuple[Any, ...]], bool] = LRU(1024)

    async def values(
        self, statements: Sequence[DriverStatement], project_id: str, *, on_loop_only: bool = False
    ) -> list[Any]:
        connection = self._idle.pop() if self._idle else self._open()
        values = []
        for statement in statements:
            params = statement.parameters(project_id)
            self._announce(statement, params)
            # On the loop's thread unless found slow (while none was, as usual, nothing to look up).
            if not (self._slow and self._slow.get((statement.sql, tuple(params)))):
                try:
                    values.append(connection.fetch(statement.sql, params, LOOP_BUDGET_SECONDS))
                    continue
                except _Interrupted:
                    self._slow.put((statement.sql, tuple(params)), True)
            values.append(await self._in_thread(connection, statement.sql, params, on_loop_only))
        # Not on errors: a cancelled statement may still be winding down in its thread.
        if len(self._idle) < self._pool_size:
            self._idle.append(connection)
        else:
            connection.db.close()
        return values

    def _open(self) -> _SqliteConnection:
        try:
            return _SqliteConnection(self._path)
        except sqlite3.Error as exc:  # a file missing, unreadable, locked: the database is unavailable
            raise connect_error(exc) from exc

    async def _in_thread(
        self, connection: _SqliteConnection, sql: str, params: Sequence[Any], on_loop_only: bool
    ) -> Any:
        """A slow statement's value, from a worker thread (Elsewhere when the caller allows none)."""
        if on_loop_only:
            self._idle.append(connection)
            raise Elsewhere()
        try:
            value, seconds = await asyncio.to_thread(self._timed_fetch, connection, sql, params)
        except asyncio.CancelledError:
            # The request ran out of time: stop the statement too (interrupt() is thread-safe).
            connection.db.interrupt()
            raise
        if seconds < LOOP_BUDGET_SECONDS:
            # Fast again (a cold cache, a busy moment): back to the loop's thread next time.
            self._slow.put((sql, tuple(params)), False)
        return value

    @staticmethod
    def _timed_fetch(connection: _SqliteConnection, sql: str, params: Sequence[Any]) -> tuple[Any, float]:
        started = time.thread_time()
        value = connection.fetch(sql, params, None)
        return value, time.thread_time() - started

    def close(self) -> None:
        while self._idle:
            self._idle.pop().db.close()


class AsyncpgRunner:
    """PostgreSQL through asyncpg connections of this module, made with the engine's URL and the
    server's connect arguments (read-only transactions, statement timeout). Handing one out costs no
    round trip, where the engine's pool pings every connection it hands out (pool_pre_ping): one found
    closed is dropped, and a statement failing on a reused connection as on a lost one is tried once more
    on a new connection. At most
    POOL_SIZE + MAX_OVERFLOW per process, waited for up to POOL_TIMEOUT; a connection that failed is
    closed, one whose request was cancelled once the server cancelled its statement; neither is reused."""

    def __init__(self, database: Database, announce: _Announce) -> None:
        engine = database.read_engine
        settings = database.settings
        _args, url_kwargs = engine.dialect.create_connect_args(engine.url)
        connect_args = request_connect_args(settings)
        # Each compiled statement is prepared once per connection (asyncpg's statement cache) and run with
        # new values: planned once too. PostgreSQL's default re-plans every execution here, as its
        # estimate for a generic plan with `LIMIT $n` is poor, though the plan it then picks is the same
        # index scan; a fifth of the database's time per request on the benchmark's page of 10.
        connect_args["server_settings"] = {
            **connect_args.get("server_settings", {}),
            "plan_cache_mode": "force_generic_plan",
        }
        self._connect_kwargs = {**url_kwargs, **connect_args}
        self._announce = announce
        self._idle: list[Any] = []
        self._closing: set[asyncio.Future[None]] = set()
        # Every connection stays open once made (closing the overflow after each use, as a queue pool
        # does, would make PostgreSQL fork a backend per request under load).
        self._pool_size = max(settings.pool_size + settings.max_overflow, 1)
        self._slots = asyncio.Semaphore(self._pool_size)
        self._wait = settings.pool_timeout

    async def values(
        self, statements: Sequence[DriverStatement], project_id: str, *, on_loop_only: bool = False
    ) -> list[Any]:
        if self._slots.locked():  # all connections busy: wait, as long as the engine's pool would
            try:
                async with asyncio.timeout(self._wait):
                    await self._slots.acquire()
            except TimeoutError as exc:
                raise connect_error(exc) from exc
        else:
            await self._slots.acquire()
        try:
            connection = self._open_idle()
            if connection is not None:
                try:
                    return await self._fetch(connection, statements, project_id)
                except Exception as exc:
                    # An idle connection the server closed (a restart, a cut) without asyncpg seeing it
                    # yet: one more try on a new connection, as the engine's pre-ping would do.
                    if not isinstance(api_error(exc), ServiceUnavailable):
                        raise
            return await self._fetch(await self._connect(), statements, project_id)
        finally:
            self._slots.release()

    async def _connect(self) -> Any:
        """A new connection; failing to get one is the database being unavailable, whatever the reason
        (database.connect_error), as on the engine's path."""
        try:
            return await asyncpg.connect(**self._connect_kwargs)
        except Exception as exc:
            raise connect_error(exc) from exc

    def _open_idle(self) -> Any:
        """An idle connection still open, or None (those closed while idle are dropped)."""
        while self._idle:
            connection = self._idle.pop()
            if not connection.is_closed():
                return connection
        return None

    async def _fetch(
        self, connection: Any, statements: Sequence[DriverStatement], project_id: str
    ) -> list[Any]:
        work = work_budget.current()
        try:
            values = []
            for statement in statements:
                params = statement.parameters(project_id)
                self._announce(statement, params)
                if work is None:
                    values.append(await connection.fetchval(statement.sql, *params))
                    continue
                # Past what the request's work budget has left, the await is cancelled: asyncpg then
                # cancels the statement on the server (its own `timeout=` would close the connection
                # under the cancel request, leaving the statement running).
                started = time.monotonic()
                try:
                    async with asyncio.timeout(max(work.remaining, 0.001)):
                        value = await connection.fetchval(statement.sql, *params)
                except TimeoutError:
                    work.charge(time.monotonic() - started)
                    self._closing.add(asyncio.ensure_future(self._close(connection)))
                    raise work.error() from None
                work.charge(time.monotonic() - started)
                values.append(value)
        except WorkLimitExceeded:
            raise
        except asyncio.CancelledError:
            # asyncpg asks the server to cancel the statement: let that finish, then close.
            self._closing.add(asyncio.ensure_future(self._close(connection)))
            raise
        except BaseException:
            connection.terminate()
            raise
        if len(self._idle) < self._pool_size:
            self._idle.append(connection)
        else:
            await connection.close()
        return values

    async def _close(self, connection: Any) -> None:
        try:
            await connection.close(timeout=self._wait)
        except Exception:  # noqa: BLE001 - a connection that cannot close cleanly is cut
            connection.terminate()
        finally:
            self._closing.discard(asyncio.current_task())

    def close(self) -> None:
        while self._idle:
            self._idle.pop().terminate()
        for task in self._closing:
            task.cancel()


class PoolRunner:
    """Through the read engine's pool and SQLAlchemy (drivers other than aiosqlite and asyncpg)."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def values(
        self, statements: Sequence[DriverStatement], project_id: str, *, on_loop_only: bool = False
    ) -> list[Any]:
        values: list[Any] = []
        async with self._database.reader() as conn:
            for statement in statements:
                params = tuple(statement.parameters(project_id))
                values.append((await conn.exec_driver_sql(statement.sql, params)).scalar())
        return values

    def close(self) -> None:
        pass


def sqlite_file(url: str) -> str | None:
    """The file of an SQLite URL without options, else None (those keep to the engine's pool)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.query or not parsed.database:
        return None
    if parsed.database == ":memory:" or parsed.database.startswith("file:"):
        return None
    return str(Path(parsed.database))


def runner_for(database: Database, *, pool_size: int) -> SqliteRunner | AsyncpgRunner | PoolRunner:
    settings = database.settings
    path = sqlite_file(settings.database_read_url or settings.database_url)
    announce = _Announce(database)
    if path is not None:
        return SqliteRunner(path, pool_size, announce)
    if database.read_engine.dialect.driver == "asyncpg":
        return AsyncpgRunner(database, announce)
    return PoolRunner(database)
