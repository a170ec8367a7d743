"""Operations: Prometheus metrics, and one structured log line per request.

Layers below the HTTP edge (authentication, the GraphQL view and schema) `note()` what they learn
about the current request (key id, operation name, outcome) into a per-request record held in a
context variable; the middleware turns that record into metrics and the log line when the response
has gone out. Nothing here ever sees the `ApiKey` header, so no secret can reach a log or a label.
"""

from __future__ import annotations

import asyncio
import bisect
import logging
import os
import re
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prometheus_client import (
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    disable_created_metrics,
    generate_latest,
)
from prometheus_client import multiprocess as prometheus_multiprocess
from prometheus_client.exposition import CONTENT_TYPE_LATEST
from sqlalchemy import event
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from graphql_api.errors import CODES
from graphql_api.http.logs import InfoLines
from graphql_api.request_record import close_record, open_record

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.pool import Pool

    from graphql_api.data.database import Database

access_logger = logging.getLogger("graphql_api.access")
access_lines = InfoLines(access_logger)

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
# Operation names are chosen by clients: only this many distinct ones get their own label value.
MAX_OPERATION_LABELS = 100
_GRAPHQL_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,99}$")
_OUTCOMES = frozenset({"ok", *CODES})

# How long counts wait in the process before they are written to the metrics (see Metrics.flush).
FLUSH_SECONDS = 0.25

# `*_created` series double the series count for a timestamp that the process start time already gives.
disable_created_metrics()  # type: ignore[no-untyped-call]


def graphql_outcome(codes: list[str | None]) -> str:
    """`ok`, or the code of the first error of a GraphQL result."""
    return "ok" if not codes else (codes[0] or "INTERNAL")


class Metrics:
    """The process's Prometheus metrics, in a registry of their own (one per app, so tests don't share).

    With PROMETHEUS_MULTIPROC_DIR set (several workers), values live in files there and `render`
    aggregates every worker's; otherwise each process reports its own. Not `enabled` (METRICS=false: no
    /metrics to read them), requests and statements are not counted at all.
    """

    def __init__(self, max_operation_labels: int = MAX_OPERATION_LABELS, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self.registry = CollectorRegistry(auto_describe=True)
        self.max_operation_labels = max_operation_labels
        self._operations: set[str] = set()
        self._pools: dict[str, Pool] = {}
        self._pools_observed_at = 0.0
        self._pending: dict[tuple[str, str, str], _PendingRequests] = {}
        self._pending_statements: dict[str, int] = {}
        self._statements: dict[str, Any] = {}  # the counter's child for each database
        self._flush_at: asyncio.TimerHandle | None = None
        r = self.registry
        self.requests = Counter(
            "graphql_api_requests",
            "HTTP requests by route, GraphQL operation name and outcome (`ok` or an error code).",
            ["route", "operation", "outcome"],
            registry=r,
        )
        self.duration = Histogram(
            "graphql_api_request_duration_seconds",
            "Time from receiving a request to sending the last byte of its response.",
            ["route", "operation"],
            registry=r,
        )
        self.sql_statements = Counter(
            "graphql_api_sql_statements", "SQL statements sent to the database.", ["database"], registry=r
        )
        # livesum: with several workers, the sum over the live ones.
        self.pool_connections = Gauge(
            "graphql_api_db_pool_connections",
            "Database connections of the pool: `in_use` by a request, or `idle`.",
            ["database", "state"],
            registry=r,
            multiprocess_mode="livesum",
        )
        self.pool_size = Gauge(
            "graphql_api_db_pool_size",
            "Connections the pool keeps open (more may be opened up to its overflow limit).",
            ["database"],
            registry=r,
            multiprocess_mode="livesum",
        )

    # -- requests ----------------------------------------------------------------------------------
    def count_request(self, route: str, operation: str, outcome: str, seconds: float) -> None:
        """One request in `requests` and `duration`: added up here, written by flush()."""
        if not self.enabled:
            return
        pending = self._pending.get((route, operation, outcome))
        if pending is None:
            pending = _PendingRequests(
                self.requests.labels(route, operation, outcome), self.duration.labels(route, operation)
            )
            self._pending[(route, operation, outcome)] = pending
        pending.add(seconds)
        if self._flush_at is None:
            self._flush_soon()

    def flush(self) -> None:
        """Write the counts added up since the last flush to the metrics' values.

        Each write takes a lock and, with several workers, writes a shared file: four per request were a
        tenth of a page of 10's time. So requests and statements are counted in plain integers and
        written at most FLUSH_SECONDS later, several requests' at once: every request is counted once,
        and a scrape sees it as soon as this process has flushed (at once for its own scrapes, within
        FLUSH_SECONDS for the other workers'). A worker killed outright (SIGKILL) loses at most that
        much of its counts."""
        if self._flush_at is not None:
            self._flush_at.cancel()
            self._flush_at = None
        for pending in self._pending.values():
            pending.write()
        for name, count in self._pending_statements.items():
            if count:
                self._pending_statements[name] = 0
                self._statements[name].inc(count)
        self.observe_pools_now_and_then()

    def _flush_soon(self) -> None:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # outside the server's loop (a script): at once
            self.flush()
            return
        self._flush_at = loop.call_later(FLUSH_SECONDS, self.flush)

    # -- labels ------------------------------------------------------------------------------------
    def operation_label(self, name: str | None) -> str:
        """The label for an operation name: bounded, whatever clients send."""
        if name is None:
            return ""
        if name in ("anonymous", "batch") or name in self._operations:
            return name
        if not _GRAPHQL_NAME.match(name) or len(self._operations) >= self.max_operation_labels:
            return "other"
        self._operations.add(name)
        return name

    # -- database ----------------------------------------------------------------------------------
    def instrument(self, database: Database) -> None:
        """Count the statements and follow the pools of the database's engines."""
        if not self.enabled:  # no listener on every statement
            return
        self._instrument(database.engine, "primary")
        if database.read_engine is not database.engine:
            self._instrument(database.read_engine, "read")

    def _instrument(self, engine: AsyncEngine, name: str) -> None:
        pending = self._pending_statements
        pending[name] = 0
        self._statements[name] = self.sql_statements.labels(name)

        def before_cursor_execute(*_: Any) -> None:
            pending[name] += 1
            if self._flush_at is None:
                self._flush_soon()

        event.listen(engine.sync_engine, "before_cursor_execute", before_cursor_execute)
        self._pools[name] = engine.sync_engine.pool
        self.observe_pools()

    def observe_pools_now_and_then(self) -> None:
        """observe_pools at most once a second, when counts are written (flush): after requests, so that
        with several workers each one's recent state is in the shared files, without a cost on every
        request."""
        now = time.monotonic()
        if now - self._pools_observed_at >= 1.0:
            self.observe_pools()

    def observe_pools(self) -> None:
        """Read the pools' state into the gauges (at every scrape, and now and then after requests)."""
        self._pools_observed_at = time.monotonic()
        for name, pool in self._pools.items():
            # QueuePool's public status; other pool classes (NullPool, StaticPool) lack it.
            for state, method in (("in_use", "checkedout"), ("idle", "checkedin")):
                read = getattr(pool, method, None)
                if callable(read):
                    self.pool_connections.labels(name, state).set(read())
            size = getattr(pool, "size", None)
            if callable(size):
                self.pool_size.labels(name).set(size())

    # -- exposition --------------------------------------------------------------------------------
    def render(self) -> bytes:
        """The Prometheus text exposition of every metric (of every worker, in multiprocess mode)."""
        self.flush()
        self.observe_pools()
        if directory := os.environ.get(MULTIPROCESS_ENV):
            _forget_dead_workers(directory)
            registry = CollectorRegistry()
            prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)

    def close(self) -> None:
        """Write what is pending; forget this worker's live gauges when it stops (multiprocess mode)."""
        self.flush()
        if os.environ.get(MULTIPROCESS_ENV):
            prometheus_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


class _PendingRequests:
    """Requests of one route, operation and outcome counted since the last flush: how many, their total
    duration and how many fell in each of the histogram's buckets."""

    __slots__ = ("counter", "histogram", "bounds", "count", "seconds", "buckets")

    def __init__(self, counter: Any, histogram: Any) -> None:
        self.counter = counter
        self.histogram = histogram
        self.bounds: list[float] = histogram._upper_bounds  # noqa: SLF001 - see write()
        self.count = 0
        self.seconds = 0.0
        self.buckets = [0] * len(self.bounds)

    def add(self, seconds: float) -> None:
        self.count += 1
        self.seconds += seconds
        # The first bucket whose bound is at least `seconds`, as Histogram.observe picks it.
        self.buckets[bisect.bisect_left(self.bounds, seconds)] += 1

    def write(self) -> None:
        """Add the counts to the metrics. Histogram.observe writes one observation (its sum and bucket);
        these are many at once, added to the same two values of the child (prometheus_client's own
        attributes: tests/test_observability.py pins the buckets, sum and count a scrape shows)."""
        if not self.count:
            return
        self.counter.inc(self.count)
        self.histogram._sum.inc(self.seconds)  # noqa: SLF001
        for index, count in enumerate(self.buckets):
            if count:
                self.histogram._buckets[index].inc(count)  # noqa: SLF001
                self.buckets[index] = 0
        self.count = 0
        self.seconds = 0.0


def _forget_dead_workers(directory: str) -> None:
    """The live gauges of workers that died without close() (SIGKILL, the OOM killer): their pools
    would count next to their replacements'. Their counters stay: what they served was served."""
    for path in Path(directory).glob("gauge_live*_*.db"):
        pid = path.stem.rsplit("_", 1)[1]
        if pid.isdigit() and not _alive(int(pid)):
            prometheus_multiprocess.mark_process_dead(int(pid), directory)  # type: ignore[no-untyped-call]


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's: alive
        return True
    return True


class ObservabilityMiddleware:
    """Times every HTTP request, counts it, and logs one line for it on `graphql_api.access`."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        record: dict[str, Any] = {}
        token = open_record(record)
        start = time.perf_counter()
        status = 500  # unless a response starts: an exception escaped

        async def send_and_watch(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_watch)
        finally:
            close_record(token)
            record_request(self.metrics, scope, record, status, time.perf_counter() - start)


def record_request(
    metrics: Metrics, scope: Scope, record: dict[str, Any], status: int, seconds: float
) -> None:
    """The metrics and the log line of one request that was answered with `status` in `seconds`."""
    route = scope.get("route")
    route_label = getattr(route, "path", None) or "unmatched"
    operation = record.get("operation")
    outcome = record.get("outcome")
    if outcome not in _OUTCOMES:
        outcome = "ok" if status < 400 else f"http_{status // 100}xx"
    metrics.count_request(route_label, metrics.operation_label(operation), outcome, seconds)
    duration_ms = round(seconds * 1000, 2)
    path = scope.get("path", "")
    method = scope.get("method", "")
    access_lines.info(
        f"{method} {path} {status} {outcome} {operation or '-'} {duration_ms:.2f}ms",
        {
            "request_id": scope.get("state", {}).get("request_id"),
            "method": scope.get("method"),
            "path": path,
            "route": route_label,
            # The name as sent (truncated) in the log: logs are for finding one request.
            "operation": operation[:100] if operation else None,
            "key_id": record.get("key_id"),
            "status": status,
            "outcome": outcome,
            "duration_ms": duration_ms,
        },
    )
