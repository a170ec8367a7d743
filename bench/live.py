"""`python -m bench.live`: whatsAppLogStream under a live writer. N subscriptions held by client processes
(one WebSocket each) on `graphql-api serve`, while another process writes logs into the database; reports
delivery latency from commit to client, memory per idle subscription, server CPU per delivered log, and
logs lost or repeated (bench/README.md, "Live mode").

    python -m bench.live                                   # SQLite and PostgreSQL, 1,000 subscriptions
    python -m bench.live --backend postgresql --subscriptions 10000 --workers 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import os
import secrets
import sys
import tempfile
import time
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from bench import live_report
from bench.data import BACKENDS, POSTGRESQL_ENV, SERVER_VERSION, Dataset, _admin, _on, _seed
from bench.live_clients import raise_file_limit, warm
from bench.live_processes import ClientProcesses, WriterProcess
from bench.live_subscriptions import VARIANTS, Endpoint, arrange, keys_per_project
from bench.live_writer import WriterPlan, Written
from bench.server import HOST, Served, _rss_mb, cpu_seconds, serving
from graphql_api.cli.seed import Plan
from graphql_api.data import writes

if TYPE_CHECKING:
    from bench.attacks import DatabaseCpu

logger = logging.getLogger("bench")
DEFAULT_POSTGRESQL = "postgresql+asyncpg://postgres@127.0.0.1:5432/postgres"
SUBSCRIPTIONS_PER_KEY = 100  # the server's default MAX_SUBSCRIPTIONS_PER_KEY


@dataclass(frozen=True)
class Live:
    """What one run measures, the same on every backend."""

    subscriptions: int
    workers: int
    seconds: float
    rate: float
    projects: int
    connect_rate: float
    client_processes: int
    grace: float
    deflate: bool
    server_env: dict[str, str]


@dataclass(frozen=True)
class Setup:
    dataset: Dataset  # for bench.server.serving: the URL and the server's version
    projects: list[str]
    incidents: dict[str, list[str]]
    keys: dict[str, list[str]]


async def _prepare(url: str, live: Live) -> Setup:
    """A fresh database: migrated, seeded with `live.projects` projects (100 old logs each, their
    incidents), and keys for each project, enough that none holds over 100 subscriptions."""
    await _seed(url, Plan(projects=live.projects, logs=100 * live.projects, now=datetime.now(UTC)))
    per_project = keys_per_project(live.subscriptions, live.projects, SUBSCRIPTIONS_PER_KEY)
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        async with engine.begin() as conn:
            version = (await conn.execute(text(SERVER_VERSION[engine.dialect.name]))).scalar_one()
            projects = [
                str(p) for p in (await conn.execute(text("SELECT id FROM project ORDER BY id"))).scalars()
            ]
            incidents: dict[str, list[str]] = {}
            for incident, project in await conn.execute(text("SELECT id, project_id FROM incident")):
                incidents.setdefault(str(project), []).append(str(incident))
            keys = {
                project: [
                    (
                        await writes.create_api_key(
                            conn, project_id=project, permissions=["ReadWhatsAppLog"], name=f"live {n}"
                        )
                    ).secret
                    for n in range(per_project)
                ]
                for project in projects
            }
    finally:
        await engine.dispose()
    server = f"{BACKENDS[engine.dialect.name]} {version}"
    dataset = Dataset(url, projects[0], projects[0], {}, None, 0, 0, server)
    return Setup(dataset, projects, incidents, keys)


def _rss(server: Served) -> float:
    """The serving processes' resident memory, MB."""
    return sum(_rss_mb(pid) for pid in server.workers())


def _expected(written: Written) -> tuple[dict[str, tuple[str, str]], dict[tuple[str, str], float]]:
    """Each log's project and final status; each (log, status)'s commit time."""
    finals = {log: (project, status) for log, project, status, _ in written.changes}
    commits = {(log, status): committed for log, _, status, committed in written.changes}
    return finals, commits


def _settle(live: Live) -> float:
    """Seconds to let the server settle after connecting (garbage, buffers): short for a tiny run."""
    return min(2.0, 0.5 + live.subscriptions / 1000)


def _scratch_database(admin_url: str | None, directory: Path) -> str:
    """The URL of an empty database for one run: a file in `directory`, or a database of its own on the
    PostgreSQL server of `admin_url` (C collation, as bench/data.py makes the benchmark's)."""
    if admin_url is None:
        return f"sqlite+aiosqlite:///{directory / 'live.db'}"
    name = f"graphql_api_live_{os.getpid()}_{secrets.token_hex(3)}"
    create = (
        f"CREATE DATABASE \"{name}\" TEMPLATE template0 ENCODING 'UTF8' LC_COLLATE 'C' LC_CTYPE 'C.UTF-8'"
    )
    asyncio.run(_admin(admin_url, create))
    return _on(admin_url, name)


def run_backend(backend: str, live: Live, admin_url: str | None) -> dict[str, Any]:
    """One backend: a fresh database and server, the clients, the writer; the figures."""
    with tempfile.TemporaryDirectory(prefix="graphql-api-live-") as directory:
        pg_admin = admin_url if backend == "postgresql" else None
        url = _scratch_database(pg_admin, Path(directory))
        try:
            setup = asyncio.run(_prepare(url, live))
            logger.info(
                "%s: %d projects, %d keys each",
                setup.dataset.server,
                live.projects,
                len(setup.keys[setup.projects[0]]),
            )
            return _measure(setup, live)
        finally:
            if pg_admin is not None:
                asyncio.run(
                    _admin(pg_admin, f'DROP DATABASE IF EXISTS "{make_url(url).database}" WITH (FORCE)')
                )


def _measure(setup: Setup, live: Live) -> dict[str, Any]:
    subscriptions = arrange(live.subscriptions, setup.projects, setup.keys)
    plan = WriterPlan(setup.dataset.url, setup.projects, setup.incidents, live.rate, live.seconds)
    env = {"MAX_SUBSCRIPTIONS": str(live.subscriptions + 100), **live.server_env}
    result: dict[str, Any] = {"server": setup.dataset.server, "load_before": os.getloadavg()[0]}
    with ExitStack() as stack:
        server = stack.enter_context(
            serving(setup.dataset, workers=live.workers, env=env, inherit_settings=False)
        )
        endpoint = Endpoint(f"ws://{HOST}:{server.port}/graphql", live.deflate)
        # Every worker's caches, connections and watcher, so that the memory measured is the streams'.
        warm_up = subscriptions[: min(len(subscriptions), 2 * len(VARIANTS) * live.workers)]
        if failures := asyncio.run(warm(endpoint, warm_up)):
            raise RuntimeError(f"the server refused the warm-up subscriptions: {failures[0]}")
        time.sleep(1.0)
        rss_before = _rss(server)
        logger.info("connecting %d subscriptions at %.0f/s", len(subscriptions), live.connect_rate)
        clients = ClientProcesses(
            endpoint, subscriptions, processes=live.client_processes, connect_rate=live.connect_rate
        )
        stack.callback(clients.close)
        ready = clients.gather("ready", 300 + len(subscriptions) / live.connect_rate)
        if ready is None:
            raise RuntimeError("the subscriptions did not all get their first message in time")
        failed = [reason for r in ready for reason in r["failed"]]
        time.sleep(_settle(live))
        rss_idle = _rss(server)
        connected = len(subscriptions) - len(failed)
        result["connect"] = {
            "subscriptions": len(subscriptions),
            "connected": connected,
            "failed": len(failed),
            "failures": sorted(set(failed))[:5],
            "seconds": max(r["seconds"] for r in ready),
        }
        result["memory"] = {
            "rss_before_mb": rss_before,
            "rss_idle_mb": rss_idle,
            "kb_per_idle_subscription": (rss_idle - rss_before) * 1024 / max(connected, 1),
        }
        writer = WriterProcess(plan)
        stack.callback(writer.close)
        writer_pid = writer.reply("connected", 60)
        database = _database_cpu(setup.dataset)
        if database is not None:
            stack.callback(database.close)
        before = _cpu(server, clients, database, writer_pid)
        logger.info("writing %.0f changes/s for %.0f s", live.rate, live.seconds)
        writer.go.set()
        started = time.time()
        written: Written = writer.reply("written", live.seconds + 120)
        finished = time.time()
        clients.send("expect", _expected(written))
        drained = clients.gather("drained", live.grace)
        if drained is None:
            logger.warning(
                "not every subscription had all its logs %.0f s after the writer stopped", live.grace
            )
        after = _cpu(server, clients, database, writer_pid)
        result["memory"]["rss_after_load_mb"] = _rss(server)
        clients.send("stop")
        reports = clients.gather("done", 300)
        if reports is None:
            raise RuntimeError("the client processes did not report")
    last = max((r["last_final_at"] for r in reports), default=0.0)
    result["window"] = {
        "writer_seconds": finished - started,
        "writer_started_at": started,
        "writer_finished_at": finished,
        # From the writer's last commit until every subscription had every log at its final status.
        "drain_seconds": max(0.0, last - written.last_commit_at) if drained is not None else None,
        "measured_seconds": after["at"] - before["at"],
    }
    result["writer"] = written.summary()
    result["stopped"] = server.stopped
    result["load_after"] = os.getloadavg()[0]
    return live_report.figures(result, reports, before, after)


def _database_cpu(dataset: Dataset) -> DatabaseCpu | None:
    """PostgreSQL's backends for the database, sampled as the attack bench does (imported only here: a
    run on SQLite needs none of it)."""
    if dataset.backend != "postgresql":
        return None
    from bench.attacks import DatabaseCpu

    return DatabaseCpu.for_dataset(dataset)


def _cpu(
    server: Served, clients: ClientProcesses, database: DatabaseCpu | None, writer_pid: Any
) -> dict[str, Any]:
    """CPU seconds so far: the serving processes, PostgreSQL's backends for the database less the
    writer's own, the client processes."""
    sample: dict[str, Any] = {"at": time.monotonic(), "server": server.cpu_seconds(), "database": None}
    if database is not None:
        total = database.seconds()
        with database.lock:
            writer_ticks = database.last.get(writer_pid, 0) if writer_pid else 0
        sample["database"] = total - writer_ticks / os.sysconf("SC_CLK_TCK")
    sample["clients"] = cpu_seconds(clients.pids())
    return sample


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m bench.live", description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--subscriptions", type=int, default=1000, help="concurrent subscriptions (1,000)")
    parser.add_argument("--workers", type=int, default=1, help="server worker processes (1)")
    parser.add_argument("--seconds", type=float, default=20.0, help="how long the writer writes (20)")
    parser.add_argument("--rate", type=float, default=200.0, help="log changes written a second (200)")
    parser.add_argument(
        "--projects", type=int, default=20, help="projects the subscriptions spread over (20)"
    )
    parser.add_argument("--connect-rate", type=float, default=250.0, help="new subscriptions a second (250)")
    parser.add_argument(
        "--client-processes", type=int, help="processes holding the sockets (default 1, 2 past 2,000)"
    )
    parser.add_argument(
        "--grace", type=float, default=30.0, help="seconds after the writer stops for the last logs (30)"
    )
    parser.add_argument(
        "--no-deflate", action="store_true", help="clients do not offer permessage-deflate (browsers do)"
    )
    parser.add_argument(
        "--postgresql",
        metavar="URL",
        default=os.environ.get(POSTGRESQL_ENV) or DEFAULT_POSTGRESQL,
        help=f"an administrative database on the PostgreSQL server, where a scratch database is made "
        f"(default ${POSTGRESQL_ENV}, else {DEFAULT_POSTGRESQL})",
    )
    parser.add_argument(
        "--server-env",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="a server setting (repeatable)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.WARNING, stream=sys.stderr, format="%(message)s")
    logger.setLevel(logging.INFO)
    live = Live(
        subscriptions=max(1, args.subscriptions),
        workers=max(1, args.workers),
        seconds=max(1.0, args.seconds),
        rate=max(1.0, args.rate),
        projects=max(1, min(args.projects, args.subscriptions)),
        connect_rate=max(1.0, args.connect_rate),
        client_processes=args.client_processes or (1 if args.subscriptions <= 2000 else 2),
        grace=max(1.0, args.grace),
        deflate=not args.no_deflate,
        server_env=dict(item.split("=", 1) for item in args.server_env),
    )
    sockets = math.ceil(live.subscriptions / live.client_processes) + 100
    if (limit := raise_file_limit()) < sockets:
        print(
            f"error: a client process needs {sockets} open files, the limit here is {limit}", file=sys.stderr
        )
        return 2
    backends = ["sqlite", "postgresql"] if args.backend == "both" else [args.backend]
    if "postgresql" in backends and make_url(args.postgresql).get_backend_name() != "postgresql":
        print(f"error: not a postgresql+asyncpg:// URL: {args.postgresql!r}", file=sys.stderr)
        return 2
    result: dict[str, Any] = {"settings": {**live.__dict__, "cores": os.cpu_count()}, "backends": {}}
    for backend in backends:
        result["backends"][backend] = run_backend(backend, live, args.postgresql)
    print(live_report.table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2, default=str))
    print(live_report.summary_line(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
