"""Engines: SQLite pragmas for the embedded default, pool options for PostgreSQL, and the one place
where a database failure becomes an error a client can act on (SERVICE_UNAVAILABLE or TIMEOUT).

Where it failed decides first: any failure to obtain a connection (a pool checkout, a connect) is the
database being unavailable, whatever the driver said; only a failure while a statement runs is read by
its kind (connection lost, statement timeout, replica conflict, or none a client can act on)."""

from __future__ import annotations

import asyncio
import contextvars
import logging
import sqlite3
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy import exc as sa_exc
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from graphql_api.data import work_budget
from graphql_api.data.sqlite_driver import use_one_trip_cursors
from graphql_api.errors import ApiError, ServiceUnavailable, Timeout
from graphql_api.settings import Settings

logger = logging.getLogger("graphql_api.database")


class _SimpleLower(dict[int, str]):
    """Unicode's simple (one character to one character) lowercase mapping, as a str.translate table,
    filled one character at a time as texts need them (building it whole costs half a second).

    PostgreSQL's lower() and ILIKE fold one character at a time, so 'Σ' is always 'σ' and 'İ' is 'i';
    Python's str.lower() applies the final-sigma rule and turns 'İ' into two characters. Folding one
    character at a time in SQLite too gives both backends the same matches.
    """

    def __missing__(self, code_point: int) -> str:
        char = chr(code_point)
        lowered = char.lower()[0]
        self[code_point] = lowered
        return lowered


_SIMPLE_LOWER = _SimpleLower()


def unicode_lower(value: object) -> object:
    """SQLite's lower(): its own folds ASCII only, PostgreSQL's folds every letter."""
    if not isinstance(value, str):
        return value
    if value.isascii():
        return value.lower()
    return value.translate(_SIMPLE_LOWER)


def configure_sqlite_connection(dbapi_connection: Any, *, read_only: bool) -> None:
    """Pragmas and functions of every SQLite connection (the compiled path opens its own too)."""
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=5000")
    cursor.execute("PRAGMA synchronous=NORMAL")
    if read_only:
        # The server never writes: refuse it at the connection, as PostgreSQL does.
        cursor.execute("PRAGMA query_only=ON")
    cursor.close()
    dbapi_connection.create_function("lower", 1, unicode_lower, deterministic=True)


def _configure_sqlite(engine: AsyncEngine, *, read_only: bool) -> None:
    @event.listens_for(engine.sync_engine, "connect")
    def on_connect(dbapi_connection: Any, _record: Any) -> None:
        configure_sqlite_connection(dbapi_connection, read_only=read_only)
        if read_only:
            use_one_trip_cursors(dbapi_connection)


def _postgresql_options(settings: Settings, *, for_requests: bool) -> dict[str, Any]:
    server_settings = {"application_name": "graphql_api" if for_requests else "graphql_api-cli"}
    connect_args: dict[str, Any] = {"timeout": settings.connect_timeout, "server_settings": server_settings}
    if for_requests:
        # Every transaction of the server is read-only; the CLI (imports, keys) writes.
        server_settings["default_transaction_read_only"] = "on"
        # One request, one core: a parallel plan multiplies the CPU that the work budget counts as wall
        # time (a 0.8 s scan used 1.5 s of CPU), and takes the cores other keys' requests need.
        server_settings["max_parallel_workers_per_gather"] = "0"
        if settings.lock_timeout_ms > 0:
            server_settings["lock_timeout"] = str(settings.lock_timeout_ms)
        if settings.statement_timeout_ms > 0:
            # The server cancels a slow statement itself; the client-side limit only guards against a
            # database that stopped answering altogether, so it comes later.
            server_settings["statement_timeout"] = str(settings.statement_timeout_ms)
            connect_args["command_timeout"] = settings.statement_timeout_ms / 1000 + settings.connect_timeout
    options: dict[str, Any] = {
        "pool_size": settings.pool_size,
        "max_overflow": settings.max_overflow,
        "pool_timeout": settings.pool_timeout,
        # A connection that died while idle (database restart, failover) is replaced, not handed out:
        # pinged at checkout (_ping_at_checkout, SQLAlchemy's pre-ping for the readers that want it).
        "pool_pre_ping": False,
        "connect_args": connect_args,
    }
    if for_requests:
        # Each SELECT a transaction of its own, as under READ COMMITTED each has a snapshot of its own
        # anyway: no BEGIN before a request's first statement nor ROLLBACK when its connection goes
        # back to the pool, two round trips of four for a live stream's read.
        options["isolation_level"] = "AUTOCOMMIT"
    return options


def request_connect_args(settings: Settings) -> dict[str, Any]:
    """asyncpg's connect arguments for the server's request connections (the compiled path opens its
    own, with the same read-only transactions and timeouts)."""
    return dict(_postgresql_options(settings, for_requests=True)["connect_args"])


def create_engine(settings: Settings, *, url: str | None = None, for_requests: bool = False) -> AsyncEngine:
    """An engine for `url` (default: the primary database).

    `for_requests`: the server's engines, read-only and with a statement timeout; the CLI's engine writes
    and may run long statements (migrations, imports).
    """
    target = make_url(url or settings.database_url)
    backend = target.get_backend_name()
    kwargs = _postgresql_options(settings, for_requests=for_requests) if backend == "postgresql" else {}
    if backend == "sqlite" and for_requests:
        # A request holds one connection at a time, so a small pool only ever makes it wait its turn.
        kwargs = {"pool_size": settings.sqlite_pool_size, "max_overflow": 0}
        kwargs["pool_timeout"] = settings.pool_timeout
    engine = create_async_engine(target, **kwargs)
    if backend == "sqlite":
        _configure_sqlite(engine, read_only=for_requests)
    if backend == "postgresql":
        _ping_at_checkout(engine)
    return engine


# For a reader that asks (`Database.reader(ping_recent=False)`), a pooled connection used within this
# many seconds is handed out without a ping.
PING_AFTER_IDLE_SECONDS = 1.0
_ping_recent: contextvars.ContextVar[bool] = contextvars.ContextVar("ping_recent", default=True)


def _ping_at_checkout(engine: AsyncEngine) -> None:
    """SQLAlchemy's pre-ping (a connection that died while idle, in a database restart or failover, is
    found closed and replaced: DisconnectionError makes the pool connect again), except for readers
    that take a connection used within PING_AFTER_IDLE_SECONDS as it is.

    The ping is a round trip and a third of a short read's CPU (0.13 of 0.45 ms on a live stream's
    batch). A live stream reads many times a second and tries again after a failed read, so a
    connection lost in that moment costs it a retry; a request would fail with SERVICE_UNAVAILABLE.
    """

    @event.listens_for(engine.sync_engine, "checkin")
    def on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.sync_engine, "checkout")
    def on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None:  # a new connection
            return
        if not _ping_recent.get() and time.monotonic() - idle_since <= PING_AFTER_IDLE_SECONDS:
            return
        try:
            alive = engine.dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise sa_exc.DisconnectionError() from exc
        if not alive:
            raise sa_exc.DisconnectionError()


_UNAVAILABLE_SQLSTATE_PREFIXES = (
    "08",  # connection exception
    "53",  # insufficient resources (too many connections, out of memory or disk)
    "57P",  # the server is shutting down, restarting or not yet accepting connections
    "40001",  # a replica cancelled the read to apply changes from the primary: worth a retry
)
_QUERY_CANCELED = "57014"  # statement_timeout fired
_LOCK_NOT_AVAILABLE = "55P03"  # lock_timeout fired
_SQLITE_UNAVAILABLE = ("SQLITE_BUSY", "SQLITE_LOCKED", "SQLITE_CANTOPEN", "SQLITE_IOERR")


def api_error(exc: BaseException) -> ApiError | None:
    """What a database failure means to a client, or None when it is not one a client can act on.

    Takes SQLAlchemy's errors and the drivers' own (the compiled path calls asyncpg and sqlite3 directly).
    """
    if isinstance(exc, ApiError):  # already what the client is told (the work budget, say)
        return exc
    driver_error: BaseException = exc
    if isinstance(exc, sa_exc.DBAPIError) and isinstance(exc.orig, BaseException):
        driver_error = exc.orig
    # Before the checks below: a statement stopped by the budget is no outage (TimeoutError is an OSError).
    work = work_budget.current()
    if work is not None and work.exhausted and _stopped(driver_error):
        return work.error()
    if isinstance(exc, sa_exc.TimeoutError):  # every pooled connection is busy
        return ServiceUnavailable()
    if isinstance(exc, OSError):  # refused, unreachable, or no answer within connect_timeout
        return ServiceUnavailable()
    if isinstance(exc, sa_exc.DBAPIError) and exc.connection_invalidated:
        return ServiceUnavailable()
    sqlstate = str(getattr(driver_error, "sqlstate", None) or "")
    if sqlstate == _QUERY_CANCELED:
        return Timeout()
    if sqlstate == _LOCK_NOT_AVAILABLE:
        return Timeout(
            "The data this request reads was locked (by a migration, say) for too long; try again."
        )
    if sqlstate.startswith(_UNAVAILABLE_SQLSTATE_PREFIXES):
        return ServiceUnavailable()
    # asyncpg's own words for a connection that is gone (SQLAlchemy's asyncpg dialect checks the same)
    if type(driver_error).__name__ == "InterfaceError" and "connection is closed" in str(driver_error):
        return ServiceUnavailable()
    if isinstance(driver_error, sqlite3.OperationalError):
        name = getattr(driver_error, "sqlite_errorname", "")
        if name.startswith(_SQLITE_UNAVAILABLE):
            return ServiceUnavailable()
    return None


def connect_error(exc: BaseException) -> ApiError:
    """What a failure to obtain a connection means to a client: the database is unavailable.

    Whatever the driver said: refused or reset, a database that does not exist (yet: being restored or
    renamed) or is not accepting connections, rejected credentials (rotated under a running server), too
    many connections, a server starting or stopping, a pool or pooler with nothing to give. None of them
    is the request's fault, and each one passes when the database or its operator is done.
    """
    return exc if isinstance(exc, ApiError) else ServiceUnavailable()


def _stopped(driver_error: BaseException) -> bool:
    """A statement stopped on the client's request: SQLite's interrupt, a client-side timeout."""
    if isinstance(driver_error, sqlite3.OperationalError):
        return str(driver_error) == "interrupted"
    return isinstance(driver_error, TimeoutError)


def log_failure(error: ApiError, exc: BaseException) -> None:
    """One warning line for a database failure a client is told about: the driver's own error (the root
    of the chain SQLAlchemy and this module raise from), its type (`InvalidPasswordError`, say) and its
    first line."""
    cause = exc
    while cause.__cause__ is not None:
        cause = cause.__cause__
    first_line = str(cause).splitlines()[0] if str(cause) else ""
    logger.warning("database %s: %s: %s", error.code, type(cause).__name__, first_line)


class Database:
    """The engines of one server process: one for reads (maybe a replica), one for the primary."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.engine = create_engine(settings, for_requests=True)
        self.read_engine = (
            create_engine(settings, url=settings.database_read_url, for_requests=True)
            if settings.database_read_url
            else self.engine
        )

    @asynccontextmanager
    async def reader(self, *, ping_recent: bool = True) -> AsyncIterator[AsyncConnection]:
        """A read-only connection for the SELECTs of one request; without `ping_recent`, one used within
        PING_AFTER_IDLE_SECONDS is not pinged first (_ping_at_checkout).

        A database that is gone, overloaded or too slow raises ServiceUnavailable or Timeout here, for
        resolvers, loaders and probes alike: any failure to get the connection is ServiceUnavailable (see
        connect_error); a statement's other errors pass through unchanged.
        """
        work = work_budget.current()
        connected = False
        pinging = _ping_recent.set(ping_recent)  # read by _ping_at_checkout, in connect()
        try:
            async with self.read_engine.connect() as conn:
                connected = True
                if work is None or conn.dialect.name == "sqlite":  # SQLite's statements meter themselves
                    yield conn
                else:
                    async with _within(work):
                        yield conn
        except ApiError:
            # Already what the client is told, and no database failure: a bad key or filter raised
            # while the connection was open, the work budget, or a failure an inner reader logged.
            raise
        except Exception as exc:
            error = api_error(exc) if connected else connect_error(exc)
            if error is None:
                raise
            log_failure(error, exc)
            raise error from exc
        finally:
            _ping_recent.reset(pinging)

    async def dispose(self) -> None:
        await self.engine.dispose()
        if self.read_engine is not self.engine:
            await self.read_engine.dispose()


@asynccontextmanager
async def _within(work: work_budget.WorkBudget) -> AsyncIterator[None]:
    """Wall time spent inside is charged to `work`; past what it has left, the statement awaited is
    cancelled (asyncpg cancels it on the server) and WorkLimitExceeded raised."""
    started = time.monotonic()
    try:
        async with asyncio.timeout(max(work.remaining, 0.001)):
            yield
    except TimeoutError:
        work.charge(time.monotonic() - started)
        if work.exhausted:
            raise work.error() from None
        raise
    else:
        work.charge(time.monotonic() - started)
