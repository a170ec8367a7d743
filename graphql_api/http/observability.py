"""Operations: Prometheus metrics, and one structured log line per request.

Layers below the HTTP edge (authentication, the GraphQL view and schema) `note()` what they learn
about the current request (key id, operation name, outcome) into a per-request record held in a
context variable; the middleware turns that record into metrics and the log line when the response
has gone out. Nothing here ever sees the `ApiKey` header, so no secret can reach a log or a label.
"""

from __future__ import annotations

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
from graphql_api.request_record import close_record, open_record

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine
    from sqlalchemy.pool import Pool

    from graphql_api.data.database import Database

access_logger = logging.getLogger("graphql_api.access")

MULTIPROCESS_ENV = "PROMETHEUS_MULTIPROC_DIR"
METRICS_CONTENT_TYPE = CONTENT_TYPE_LATEST
# Operation names are chosen by clients: only this many distinct ones get their own label value.
MAX_OPERATION_LABELS = 100
_GRAPHQL_NAME = re.compile(r"^[_A-Za-z][_0-9A-Za-z]{0,99}$")
_OUTCOMES = frozenset({"ok", *CODES})

# `*_created` series double the series count for a timestamp that the process start time already gives.
disable_created_metrics()  # type: ignore[no-untyped-call]


def graphql_outcome(codes: list[str | None]) -> str:
    """`ok`, or the code of the first error of a GraphQL result."""
    return "ok" if not codes else (codes[0] or "INTERNAL")


class Metrics:
    """The process's Prometheus metrics, in a registry of their own (one per app, so tests don't share).

    With PROMETHEUS_MULTIPROC_DIR set (several workers), values live in files there and `render`
    aggregates every worker's; otherwise each process reports its own.
    """

    def __init__(self, max_operation_labels: int = MAX_OPERATION_LABELS) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.max_operation_labels = max_operation_labels
        self._operations: set[str] = set()
        self._pools: dict[str, Pool] = {}
        self._pools_observed_at = 0.0
        self._children: dict[tuple[str, str, str], tuple[Any, Any]] = {}
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
        """One request in `requests` and `duration`. The labelled children are kept (their number is
        bounded by the labels'): `labels()` builds and checks its key on every call."""
        children = self._children.get((route, operation, outcome))
        if children is None:
            children = self.requests.labels(route, operation, outcome), self.duration.labels(route, operation)
            self._children[(route, operation, outcome)] = children
        children[0].inc()
        children[1].observe(seconds)

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
        self._instrument(database.engine, "primary")
        if database.read_engine is not database.engine:
            self._instrument(database.read_engine, "read")

    def _instrument(self, engine: AsyncEngine, name: str) -> None:
        statements = self.sql_statements.labels(name)

        def before_cursor_execute(*_: Any) -> None:
            statements.inc()

        event.listen(engine.sync_engine, "before_cursor_execute", before_cursor_execute)
        self._pools[name] = engine.sync_engine.pool
        self.observe_pools()

    def observe_pools_now_and_then(self) -> None:
        """observe_pools at most once a second: after requests, so that with several workers each
        one's recent state is in the shared files, without a cost on every request."""
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
        self.observe_pools()
        if directory := os.environ.get(MULTIPROCESS_ENV):
            _forget_dead_workers(directory)
            registry = CollectorRegistry()
            prometheus_multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)

    def close(self) -> None:
        """Forget this worker's live gauges when it stops (multiprocess mode)."""
        if os.environ.get(MULTIPROCESS_ENV):
            prometheus_multiprocess.mark_process_dead(os.getpid())  # type: ignore[no-untyped-call]


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
    metrics.observe_pools_now_and_then()
    duration_ms = round(seconds * 1000, 2)
    path = scope.get("path", "")
    access_logger.info(
        "%s %s %s %s %s %.2fms",
        scope.get("method", ""),
        path,
        status,
        outcome,
        operation or "-",
        duration_ms,
        extra={
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
