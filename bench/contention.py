"""Load under writes: many concurrent clients read through `graphql-api serve` while another process
inserts logs into the same database. It passes with zero errors and zero "database is locked".

    python -m bench.contention                        # SQLite (WAL), 100 clients, 60 s
    python -m bench.contention --clients 20 --seconds 10
    python -m bench.contention --database-url postgresql+asyncpg://postgres@127.0.0.1:5432/postgres

With a PostgreSQL URL (or TEST_DATABASE_URL) it creates a scratch database on that server, runs there,
and drops it. Everything stays on loopback and is bounded: at most 500 clients, 600 seconds and
5 million requests. Prints one JSON line of figures; the exit code is 1 when anything failed.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import os
import queue
import re
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from sqlalchemy.engine import make_url

HOST = "127.0.0.1"
MAX_CLIENTS, MAX_SECONDS, MAX_REQUESTS = 500, 600.0, 5_000_000
LOCKED = re.compile(rb"database is locked|database table is locked", re.IGNORECASE)
# Error lines of the server's log, JSON (the default) or text.
SERVER_ERRORS = re.compile(
    rb'"level": "(?:error|critical)"|^\S+ \S+ (?:ERROR|CRITICAL) |Traceback', re.MULTILINE
)

# What the clients ask, in turn: pages with relations, counts, a connection, a filter, stats, REST.
GRAPHQL = [
    (
        "{ whatsAppLogs(limit: 20) { id createdAt status toNumber incident { title } monitor { name } } }",
        None,
    ),
    ("query($s: String!) { whatsAppLogCount(where: {status: {eq: $s}}) }", {"s": "Delivered"}),
    ("{ whatsAppLogsConnection(first: 10) { totalCount edges { cursor node { id status } } } }", None),
    (
        "query($w: WhatsAppLogFilter) { whatsAppLogs(where: $w, orderBy: [{whatsAppCostInUSDCents: DESC}], "
        "limit: 10) { id whatsAppCostInUSDCents team { name } } }",
        {"w": {"or": [{"status": {"in": ["Failed", "Error"]}}, {"messageText": {"contains": "down"}}]}},
    ),
    ("{ whatsAppLogStats(groupBy: [STATUS]) { status count totalCostInUSDCents } }", None),
]
REST_COUNT = ("/api/whatsapp-log/count", {"query": {"status": "Sent"}})


@dataclass
class Figures:
    backend: str
    clients: int
    seconds: float
    requests: int
    errors: int
    database_locked: int
    req_per_s: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    writer_inserted: int
    writer_errors: int
    server_log_errors: int


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


# --- the database --------------------------------------------------------------------------------------


async def _admin(url: str, statement: str) -> None:
    import asyncpg

    dsn = make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)
    connection = await asyncpg.connect(dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()


def scratch_database(admin_url: str | None, directory: Path) -> tuple[str, str]:
    """(backend, url) of an empty database for this run."""
    if admin_url is None:
        return "sqlite", f"sqlite+aiosqlite:///{directory / 'load.db'}"
    name = f"graphql_api_load_{os.getpid()}_{secrets.token_hex(3)}"
    asyncio.run(_admin(admin_url, f'CREATE DATABASE "{name}"'))
    return "postgresql", make_url(admin_url).set(database=name).render_as_string(hide_password=False)


def drop_scratch(admin_url: str | None, url: str) -> None:
    if admin_url is not None:
        name = make_url(url).database
        asyncio.run(_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


# --- the writer process -----------------------------------------------------------------------------------


def writer(url: str, project_id: str, rate: float, batch: int, stop: Any, result: Any) -> None:
    """Inserts `batch` logs per transaction, `rate` transactions a second, until `stop` is set."""
    asyncio.run(_write(url, project_id, rate, batch, stop, result))


async def _write(url: str, project_id: str, rate: float, batch: int, stop: Any, result: Any) -> None:
    from graphql_api.data import models, writes
    from graphql_api.data.database import create_engine
    from graphql_api.settings import Settings

    engine = create_engine(Settings(database_url=url))
    table = models.Base.metadata.tables["whatsapp_log"]
    inserted = errors = locked = 0
    try:
        while not stop.is_set():
            started = time.monotonic()
            now = datetime.now(UTC)
            rows = [
                {
                    "id": models.new_id(),
                    "created_at": now,
                    "updated_at": now,
                    "project_id": project_id,
                    "to_number": "+1-555-010-0000",
                    "status": "Sent",
                    "message_text": "written during the load test",
                    "whatsapp_cost_in_usd_cents": 1,
                }
                for _ in range(batch)
            ]
            try:
                async with engine.begin() as conn:
                    inserted += await writes.insert_rows(conn, table, rows)
            except Exception as exc:  # noqa: BLE001 - counted and reported, never hidden
                errors += 1
                locked += bool(LOCKED.search(str(exc).encode()))
            await asyncio.sleep(max(0.0, 1 / rate - (time.monotonic() - started)))
    finally:
        await engine.dispose()
        result.put({"inserted": inserted, "errors": errors, "locked": locked})


# --- the clients --------------------------------------------------------------------------------------------


def _request(port: int, key: str, path: str, body: dict[str, Any]) -> bytes:
    payload = json.dumps(body).encode()
    head = [
        f"POST {path} HTTP/1.1",
        f"Host: {HOST}:{port}",
        "Content-Type: application/json",
        f"ApiKey: {key}",
        f"Content-Length: {len(payload)}",
    ]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + payload


@dataclass
class _Tally:
    latencies_ms: list[float]
    by_kind: dict[int, list[float]] = field(default_factory=dict)
    errors: int = 0
    locked: int = 0
    first_error: str = ""


async def _client(port: int, requests: list[bytes], deadline: float, tally: _Tally, offset: int) -> None:
    reader, writer = await asyncio.open_connection(HOST, port)
    turn = offset
    try:
        while time.perf_counter() < deadline and len(tally.latencies_ms) < MAX_REQUESTS:
            started = time.perf_counter()
            kind = turn % len(requests)
            writer.write(requests[kind])
            turn += 1
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length:\s*(\d+)", head).group(1))  # type: ignore[union-attr]
            body = await reader.readexactly(length)
            elapsed_ms = (time.perf_counter() - started) * 1000
            tally.latencies_ms.append(elapsed_ms)
            tally.by_kind.setdefault(kind, []).append(elapsed_ms)
            failed = not head.startswith(b"HTTP/1.1 200") or b'"errors"' in body
            if failed:
                tally.errors += 1
                tally.first_error = tally.first_error or (head.split(b"\r\n")[0] + b" " + body[:300]).decode()
            tally.locked += bool(LOCKED.search(body))
    finally:
        writer.close()


async def _load(port: int, key: str, clients: int, seconds: float) -> tuple[_Tally, float]:
    requests = [_request(port, key, "/graphql", {"query": q, "variables": v}) for q, v in GRAPHQL]
    requests.append(_request(port, key, *REST_COUNT))
    tally = _Tally([])
    started = time.perf_counter()
    await asyncio.gather(*(_client(port, requests, started + seconds, tally, i) for i in range(clients)))
    return tally, time.perf_counter() - started


# --- the server -------------------------------------------------------------------------------------------


def _serve(
    url: str, port: int, log: Path, workers: int, extra_env: dict[str, str]
) -> tuple[subprocess.Popen[bytes], str]:
    """`graphql-api serve --demo` (migrates, seeds, prints a key); returns the process and the key."""
    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "warning", "WORKERS": str(workers), **extra_env}
    command = [sys.executable, "-m", "graphql_api", "serve", "--demo", "--host", HOST, "--port", str(port)]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=log.open("wb"))
    assert process.stdout is not None
    key = ""
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and not key:
        line = process.stdout.readline().decode()
        if not line and process.poll() is not None:
            raise RuntimeError(f"graphql-api serve stopped:\n{log.read_text()}")
        if line.startswith("Demo API key: "):
            key = line.split(": ", 1)[1].strip()
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=2) as response:
                if response.status == 200:
                    return process, key
        except OSError:
            time.sleep(0.2)
    process.terminate()
    raise RuntimeError(f"graphql-api serve did not start:\n{log.read_text()}")


def _first_project(url: str) -> str:
    from graphql_api.data import queries
    from graphql_api.data.database import create_engine
    from graphql_api.settings import Settings

    async def first() -> str:
        engine = create_engine(Settings(database_url=url))
        try:
            async with engine.connect() as conn:
                return str((await queries.list_projects(conn))[0].id)
        finally:
            await engine.dispose()

    return asyncio.run(first())


def run(args: argparse.Namespace) -> Figures:
    clients = max(1, min(args.clients, MAX_CLIENTS))
    seconds = max(1.0, min(args.seconds, MAX_SECONDS))
    admin_url = args.database_url or None
    with tempfile.TemporaryDirectory(prefix="graphql-api-load-") as directory:
        backend, url = scratch_database(admin_url, Path(directory))
        log = Path(directory) / "server.log"
        port = _free_port()
        extra_env = dict(item.split("=", 1) for item in args.server_env)
        server, key = _serve(url, port, log, args.workers, extra_env)
        context = multiprocessing.get_context("spawn")
        stop, result = context.Event(), context.Queue()
        writing = context.Process(
            target=writer, args=(url, _first_project(url), args.writes_per_second, args.batch, stop, result)
        )
        try:
            writing.start()
            tally, elapsed = asyncio.run(_load(port, key, clients, seconds))
        finally:
            stop.set()
            try:
                written = result.get(timeout=60)
            except queue.Empty:  # the writer died without a word: counted as failed below
                written = {}
            writing.join(30)
            server.terminate()
            server.wait(30)
            drop_scratch(admin_url, url)
        server_log = log.read_bytes()
    if tally.first_error:
        print(f"first error: {tally.first_error}", file=sys.stderr)
    _print_warnings(server_log)
    for kind, latencies in sorted(tally.by_kind.items()):
        if len(latencies) > 1:
            kind_cuts = statistics.quantiles(latencies, n=100)
            print(
                f"request {kind}: p50 {kind_cuts[49]:.1f} ms, p99 {kind_cuts[98]:.1f} ms ({len(latencies)})",
                file=sys.stderr,
            )
    cuts = statistics.quantiles(tally.latencies_ms, n=100) if len(tally.latencies_ms) > 1 else [0.0] * 99
    return Figures(
        backend=backend,
        clients=clients,
        seconds=round(elapsed, 1),
        requests=len(tally.latencies_ms),
        errors=tally.errors,
        database_locked=tally.locked + written.get("locked", 0) + len(LOCKED.findall(server_log)),
        req_per_s=round(len(tally.latencies_ms) / elapsed, 1),
        p50_ms=round(cuts[49], 1),
        p99_ms=round(cuts[98], 1),
        max_ms=round(max(tally.latencies_ms, default=0.0), 1),
        writer_inserted=written.get("inserted", 0),
        writer_errors=written.get("errors", -1),
        server_log_errors=len(SERVER_ERRORS.findall(server_log)),
    )


def _print_warnings(server_log: bytes) -> None:
    """The server's warnings and errors, each distinct message once with its count."""
    counts: dict[str, int] = {}
    for line in server_log.decode(errors="replace").splitlines():
        try:
            entry = json.loads(line)
        except ValueError:
            continue
        if isinstance(entry, dict) and entry.get("level") in ("warning", "error", "critical"):
            message = re.sub(r"[0-9a-f]{32}|\d+(\.\d+)?", "N", str(entry.get("message")))[:160]
            counts[message] = counts.get(message, 0) + 1
    for message, count in sorted(counts.items(), key=lambda item: -item[1])[:5]:
        print(f"server log: {count} x {message}", file=sys.stderr)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.contention", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--clients", type=int, default=100, help=f"concurrent connections (at most {MAX_CLIENTS})"
    )
    parser.add_argument(
        "--seconds", type=float, default=60.0, help=f"how long to load (at most {MAX_SECONDS:.0f})"
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("TEST_DATABASE_URL"),
        help="a PostgreSQL server (admin database) to run on instead of SQLite; default TEST_DATABASE_URL",
    )
    parser.add_argument("--sqlite", action="store_true", help="SQLite even when TEST_DATABASE_URL is set")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes")
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a setting for the server, e.g. POOL_TIMEOUT=30 (repeatable)",
    )
    parser.add_argument("--writes-per-second", type=float, default=20.0, help="writer transactions a second")
    parser.add_argument("--batch", type=int, default=10, help="logs per writer transaction")
    args = parser.parse_args(argv)
    if args.sqlite:
        args.database_url = None
    figures = run(args)
    print(json.dumps(asdict(figures)))
    failed = figures.errors or figures.database_locked or figures.writer_errors or figures.server_log_errors
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
