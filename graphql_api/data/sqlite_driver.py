"""One trip to aiosqlite's thread per statement, for the server's read-only SQLite connections.

aiosqlite runs each connection in a thread of its own and SQLAlchemy's adapter crosses to it four
times per statement (open a cursor, execute, fetch, close). Each crossing is a hand-off of the GIL
and a wake-up of the event loop; on a busy machine they cost more than the query. This cursor does
the four in one call on the connection's thread. Only SELECTs run through it: the server's SQLite
connections are `query_only`, and the CLI's engines (migrations, imports) keep the stock adapter.

A connection the pool takes back is rolled back only when it is in a transaction (never, for these
SELECTs): the rollback is a trip of its own.

Each statement runs metered (work_budget.SqliteMeter): its CPU time is charged to the request's work
budget, and it stops once that is spent or once the request is cancelled (past its time limit, or a
sibling field failed). A cancelled statement must stop here: SQLAlchemy then closes the connection, which
waits on the connection's thread for the statement to end.
"""

from __future__ import annotations

import asyncio
import collections
from typing import Any

from sqlalchemy.dialects.sqlite.aiosqlite import AsyncAdapt_aiosqlite_connection, AsyncAdapt_aiosqlite_cursor
from sqlalchemy.util.concurrency import await_

from graphql_api.data import work_budget


def _run(
    conn: Any, meter: work_budget.SqliteMeter, operation: Any, parameters: Any, many: bool
) -> tuple[Any, list[Any], int, int | None]:
    """On the connection's thread: execute, fetch everything, close (metered)."""
    return work_budget.run_metered(conn, meter, _execute, conn, operation, parameters, many)


def _execute(
    conn: Any, operation: Any, parameters: Any, many: bool
) -> tuple[Any, list[Any], int, int | None]:
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        else:
            cursor.execute(operation, () if parameters is None else parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneTripCursor(AsyncAdapt_aiosqlite_cursor):
    __slots__ = ("_description", "_rowcount", "_lastrowid")

    def __init__(self, adapt_connection: Any) -> None:
        # No aiosqlite cursor at all (the stock adapter opens one here, a trip of its own).
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = {}  # type: ignore[assignment]
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> int:
        return self._lastrowid  # type: ignore[return-value]

    def _trip(self, operation: Any, parameters: Any, many: bool) -> None:
        meter = work_budget.SqliteMeter(work_budget.current())

        async def go() -> None:
            async with self._adapt_connection._execute_mutex:
                raw = self._connection._conn
                try:
                    result = await self._connection._execute(_run, raw, meter, operation, parameters, many)
                except asyncio.CancelledError:
                    meter.stop()
                    raise
            self._description, rows, self._rowcount, self._lastrowid = result
            self._rows = collections.deque(rows)

        try:
            await_(go())
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        self._trip(operation, parameters, many=False)

    def executemany(self, operation: Any, seq_of_parameters: Any) -> Any:
        self._trip(operation, seq_of_parameters, many=True)

    async def _async_soft_close(self) -> None:
        return None

    def close(self) -> None:
        self._rows.clear()


class OneTripConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneTripCursor

    def rollback(self) -> None:
        """The pool rolls back every connection it takes back: a trip to the connection's thread that
        cost a read a third of its time (a live stream's reads, the regular path's requests), though
        a `query_only` connection whose SELECTs never begin a transaction has nothing to roll back.
        sqlite3 says whether it has (`in_transaction`); only then is the trip made."""
        raw = self._connection._conn  # noqa: SLF001 - aiosqlite's sqlite3 connection
        if raw is not None and not raw.in_transaction:
            return
        super().rollback()


def use_one_trip_cursors(dbapi_connection: Any) -> None:
    """Switch a freshly made aiosqlite connection (SQLAlchemy's adapter) to one-trip cursors."""
    if type(dbapi_connection) is AsyncAdapt_aiosqlite_connection:
        dbapi_connection.__class__ = OneTripConnection
