"""The in-process measurements: each variant is one row, timed in interleaved rounds, medians reported.

To add a row (another code path, say), add a `Variant` in `variants()`; `api_variants()` makes the
API rows for any app, so a second app built with other settings gets its own rows by a prefix.
"""

from __future__ import annotations

import asyncio
import hashlib
import sqlite3
import statistics
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from types import SimpleNamespace
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy import event
from sqlalchemy.util.concurrency import await_
from starlette.types import ASGIApp

from bench import queries as q
from bench.asgi import post_json
from bench.data import Dataset, plain_dsn
from graphql_api.data.fields import FIELDS
from graphql_api.data.filters import SortKey
from graphql_api.http.app import create_app
from graphql_api.settings import Settings


@dataclass(frozen=True)
class Variant:
    name: str  # the figure is `ms_<name>`
    label: str  # the table's row
    run: Callable[[], Awaitable[Any]]
    count_statements: bool = False


@dataclass
class Figures:
    ms: dict[str, float] = field(default_factory=dict)
    cpu_ms: dict[str, float] = field(default_factory=dict)
    statements: dict[str, int | None] = field(default_factory=dict)
    rows: dict[str, int] = field(default_factory=dict)
    extra: dict[str, Any] = field(default_factory=dict)


class StatementCounter:
    """Counts the SELECTs the database runs for an app. SQLite: those SQLite itself runs on the
    connections of the app's engines (sqlite3's trace callback), plus those the compiled path reports
    running on sqlite3 connections of its own. PostgreSQL: those the engines send, which include the
    compiled path's own asyncpg statements (it announces them to the engine's listeners).

    On SQLite counted at the database, not through SQLAlchemy's events, so that a path that calls the
    driver directly is counted the same way. Install it before the app's first request.
    """

    def __init__(self, app: Any) -> None:
        self.count = 0
        self.active = False
        database = app.state.services.database
        sqlite = database.read_engine.dialect.name == "sqlite"
        self._compiled = getattr(app.state, "compiled", None) if sqlite else None
        self._compiled_before = 0
        for engine in {id(e): e for e in (database.engine, database.read_engine)}.values():
            if sqlite:
                event.listen(engine.sync_engine, "connect", self._on_connect)
            else:
                event.listen(engine.sync_engine, "before_cursor_execute", self._on_execute)

    def _trace(self, statement: str) -> None:
        if self.active and statement.lstrip()[:6].upper().startswith(("SELECT", "WITH")):
            self.count += 1

    def _on_connect(self, dbapi_connection: Any, _record: Any) -> None:
        aiosqlite_connection = dbapi_connection._connection
        raw = aiosqlite_connection._conn
        # sqlite3 objects belong to aiosqlite's thread: register the callback there.
        await_(aiosqlite_connection._execute(raw.set_trace_callback, self._trace))

    def _on_execute(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self._trace(statement)

    def _compiled_statements(self) -> int:
        stats = getattr(self._compiled, "stats", None)
        return int(getattr(stats, "statements", 0))

    def __enter__(self) -> StatementCounter:
        self.count = 0
        self.active = True
        self._compiled_before = self._compiled_statements()
        return self

    def __exit__(self, *_: Any) -> None:
        self.active = False
        self.count += self._compiled_statements() - self._compiled_before


class Api:
    """One app, posting GraphQL as one project's key; every answer is checked, never just timed."""

    def __init__(self, app: ASGIApp, key: str) -> None:
        self.app = app
        self.key = key

    async def data(self, query: str, key: str | None = None) -> Any:
        status, body = await post_json(self.app, "/graphql", {"query": query}, {"ApiKey": key or self.key})
        if status != 200 or "errors" in body:
            raise RuntimeError(f"the API refused the benchmark's request: {status} {body}")
        return body["data"]

    async def persisted(self, query: str, key: str | None = None) -> Any:
        """As a client of Apollo's automatic persisted queries: the hash alone, the document once."""
        extensions = {
            "persistedQuery": {"version": 1, "sha256Hash": hashlib.sha256(query.encode()).hexdigest()}
        }
        headers = {"ApiKey": key or self.key}
        status, body = await post_json(self.app, "/graphql", {"extensions": extensions}, headers)
        if any(e["extensions"]["code"] == "PERSISTED_QUERY_NOT_FOUND" for e in body.get("errors", ())):
            status, body = await post_json(
                self.app, "/graphql", {"query": query, "extensions": extensions}, headers
            )
        if status != 200 or "errors" in body:
            raise RuntimeError(f"the API refused the benchmark's request: {status} {body}")
        return body["data"]


def api_variants(prefix: str, api: Api, data: Dataset, depth: int, deep_cursor: str | None) -> list[Variant]:
    """The API rows for one app: pages of 100 and 10, counts, deep pages by skip and by cursor."""

    def request(
        query: str, rows: int | None = None, key: str | None = None, *, by_hash: bool = False
    ) -> Callable[[], Awaitable[Any]]:
        async def run() -> Any:
            result = await (api.persisted(query, key) if by_hash else api.data(query, key))
            if rows is not None:
                (value,) = result.values()
                got = len(value["nodes"] if isinstance(value, dict) else value)
                if got != rows:
                    raise RuntimeError(f"expected {rows} rows, got {got}: {query[:80]}")
            return result

        return run

    p = prefix
    out = [
        Variant(f"{p}page100", "API: page of 100 + incident + monitor", request(q.page(100), 100), True),
        Variant(f"{p}page10", "API: page of 10 + incident + monitor", request(q.page(10), 10), True),
        # Apollo's automatic persisted queries: the same page by its SHA-256 (docs/persisted-queries.md).
        Variant(
            f"{p}page10_apq", "API: page of 10, by APQ hash", request(q.page(10), 10, by_hash=True), True
        ),
        Variant(
            f"{p}page100_apq", "API: page of 100, by APQ hash", request(q.page(100), 100, by_hash=True), True
        ),
        Variant(f"{p}count_largest", "API: whatsAppLogCount, largest project", request(q.COUNT), True),
        Variant(
            f"{p}count_typical",
            "API: whatsAppLogCount, typical project",
            request(q.COUNT, key=data.keys[data.typical_project]),
            True,
        ),
        Variant(f"{p}skip_deep", f"API: page of 100, skip {depth:,}", request(q.page(100, depth), 100), True),
    ]
    if deep_cursor is not None:
        out += [
            Variant(f"{p}conn_first", "API: connection, first 100", request(q.connection(100), 100), True),
            Variant(
                f"{p}conn_deep",
                f"API: connection, first 100 after {depth:,}",
                request(q.connection(100, deep_cursor), 100),
                True,
            ),
        ]
    return out


Fetch = Callable[[str, Sequence[Any]], Awaitable[Sequence[Sequence[Any]]]]


@dataclass(frozen=True)
class Driver:
    """The plain driver under the app, for the floor: how it fetches rows and marks a parameter."""

    name: str
    fetch: Fetch
    mark: Callable[[int], str]  # the i-th (0-based) parameter's placeholder


@asynccontextmanager
async def driver(data: Dataset) -> AsyncIterator[Driver]:
    """sqlite3 on the file, or one asyncpg connection to the database."""
    if data.backend == "sqlite":
        db = sqlite3.connect(data.path, check_same_thread=False)

        async def fetch_sqlite(sql: str, params: Sequence[Any]) -> Sequence[Sequence[Any]]:
            return db.execute(sql, params).fetchall()

        try:
            yield Driver("sqlite3", fetch_sqlite, lambda _: "?")
        finally:
            db.close()
        return
    connection = await asyncpg.connect(plain_dsn(data.url))

    async def fetch_asyncpg(sql: str, params: Sequence[Any]) -> Sequence[Sequence[Any]]:
        return await connection.fetch(sql, *params)  # type: ignore[no-any-return]

    try:
        yield Driver("asyncpg", fetch_asyncpg, lambda i: f"${i + 1}")
    finally:
        await connection.close()


def floor_variant(data: Dataset, plain: Driver, limit: int) -> Variant:
    """The plain driver: the same page and the same related rows, one `IN` query per relation."""
    columns = [f.column.name for f in FIELDS.values()]
    page_sql = q.floor_sql(columns, limit, (plain.mark(0), plain.mark(1)))
    incident_at = columns.index("incident_id")
    monitor_at = columns.index("monitor_id")

    async def related(table: str, label: str, ids: set[Any]) -> Sequence[Any]:
        marks = ", ".join(plain.mark(i) for i in range(len(ids)))
        sql = f"SELECT id, {label} FROM {table} WHERE id IN ({marks}) AND project_id = {plain.mark(len(ids))}"
        return await plain.fetch(sql, [*ids, data.largest_project])

    async def run() -> Any:
        rows = await plain.fetch(page_sql, (data.largest_project, q.STATUS))
        incidents = await related("incident", "title", {r[incident_at] for r in rows if r[incident_at]})
        monitors = await related("monitor", "name", {r[monitor_at] for r in rows if r[monitor_at]})
        if len(rows) != limit:
            raise RuntimeError(f"floor: expected {limit} rows, got {len(rows)}")
        return rows, incidents, monitors

    return Variant(f"floor{limit}", f"floor: {plain.name}, page of {limit} + 2 IN queries", run)


async def _deep_cursor(api: Api, project_id: str, depth: int) -> str | None:
    """A cursor at `depth` rows into the page query's order, made with the server's own secret."""
    try:
        from graphql_api.data.cursors import encode_cursor
    except ImportError:  # a checkout from before the connection: its rows are left out
        return None
    (row,) = (await api.data(q.row_at(depth - 1)))["whatsAppLogs"]
    last = SimpleNamespace(id=row["id"], created_at=datetime.fromisoformat(row["createdAt"]))
    secret = api.app.state.services.cursor_secret  # type: ignore[attr-defined]
    return encode_cursor(
        secret, keys=(SortKey("createdAt", descending=True),), project_id=project_id, row=last
    )


def choose_depth(matching: int, wanted: int = 100_000) -> int:
    """100,000 rows deep, or half way down when the data is too small for that (quick mode)."""
    return wanted if matching >= wanted + 200 else max(matching // 2, 1)


@dataclass(frozen=True)
class CodePath:
    """A way the server can run requests; each gets its own rows (its app is built with `settings`)."""

    prefix: str  # figure names: ms_<prefix>page100 ...
    title: str
    settings: dict[str, Any]
    env: dict[str, str]  # the same for `graphql-api serve`


async def measure(data: Dataset, *, rounds: int, paths: list[CodePath]) -> Figures:
    """Every in-process variant of every path, interleaved in `rounds` rounds; medians in milliseconds."""
    apps = [create_app(Settings(database_url=data.url, **path.settings)) for path in paths]
    app_counters = [StatementCounter(app) for app in apps]
    figures = Figures()
    async with AsyncExitStack() as stack:
        for app in apps:
            stack.push_async_callback(app.state.services.close)
        plain = await stack.enter_async_context(driver(data))
        first = Api(apps[0], data.keys[data.largest_project])
        matching = (await first.data(f'{{ whatsAppLogCount(where: {{ status: {{ eq: "{q.STATUS}" }} }}) }}'))[
            "whatsAppLogCount"
        ]
        depth = choose_depth(matching)
        figures.extra.update(depth=depth, matching_largest=matching)
        variants = [floor_variant(data, plain, 100), floor_variant(data, plain, 10)]
        counters: dict[str, StatementCounter] = {}
        for path, app, counter in zip(paths, apps, app_counters, strict=True):
            api = Api(app, data.keys[data.largest_project])
            cursor = await _deep_cursor(api, data.largest_project, depth)
            for v in api_variants(path.prefix, api, data, depth, cursor):
                variants.append(v)
                counters[v.name] = counter
        samples: dict[str, list[float]] = {v.name: [] for v in variants}
        cpu: dict[str, list[float]] = {v.name: [] for v in variants}
        for v in variants:  # warm-up: caches, the auth cache, the database's pages; checks every answer
            await v.run()
            await v.run()
            if v.count_statements:
                with counters[v.name] as counter:
                    await v.run()
                # None: the path ran its SQL on connections of its own, outside the engines counted.
                figures.statements[v.name] = counter.count or None
        for _ in range(rounds):
            for v in variants:
                started, started_cpu = time.perf_counter(), time.process_time()
                await v.run()
                samples[v.name].append((time.perf_counter() - started) * 1000)
                cpu[v.name].append((time.process_time() - started_cpu) * 1000)
        figures.ms = {name: statistics.median(values) for name, values in samples.items()}
        # CPU time of the whole process (all its threads): steadier than wall time on a busy machine.
        figures.cpu_ms = {name: statistics.median(values) for name, values in cpu.items()}
        figures.extra["labels"] = {v.name: v.label for v in variants}
    return figures


def run(data: Dataset, *, rounds: int, paths: list[CodePath]) -> Figures:
    return asyncio.run(measure(data, rounds=rounds, paths=paths))
