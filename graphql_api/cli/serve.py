"""`graphql-api serve [--demo]`: uvicorn and its workers, and for a demo a migrated, seeded database
and a key to try it with."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
import os
import secrets
import shutil
import signal
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from graphql_api.cli.base import CliError, project_list, with_engine
from graphql_api.cli.fill import seed_empty_database
from graphql_api.cli.supervisor import run_uvicorn
from graphql_api.settings import Settings

if TYPE_CHECKING:
    from types import FrameType

    from graphql_api.cli.demo import DemoKey

logger = logging.getLogger("graphql_api.cli")
# Seconds a stopping server gives a request past its time limit (REQUEST_TIMEOUT_SECONDS) to be sent.
DRAIN_MARGIN_SECONDS = 5.0


def serve(settings: Settings, *, demo: bool) -> int:
    from graphql_api.http.logs import logging_config

    if demo:
        _print_demo(settings, asyncio.run(prepare_demo(settings)))
    if problem := asyncio.run(_serve_problem(settings)):
        raise CliError(problem)
    # Workers are separate processes: they read their settings from the environment.
    os.environ["DATABASE_URL"] = settings.database_url
    os.environ["LOG_LEVEL"] = settings.log_level
    if not settings.cursor_secret:
        # One secret for every worker of this server: a cursor works whichever worker answers it.
        os.environ["CURSOR_SECRET"] = secrets.token_urlsafe(32)
    metrics_dir = None
    if settings.workers > 1 and not os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        # Workers share their metrics through files here, so /metrics adds up all of them.
        metrics_dir = tempfile.mkdtemp(prefix="graphql-api-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir
    # Supervisors (systemd, Kubernetes) stop a server with SIGTERM and read a death by signal as a
    # failure. uvicorn drains, then raises the signal again to the handler it found: this one exits 0.
    signal.signal(signal.SIGTERM, _exit_0)
    from graphql_api.http.ws_protocol import LeanWebSocketsProtocol  # uvicorn's, imported when serving

    options: dict[str, Any] = {
        "factory": True,
        "host": settings.host,
        "port": settings.port,
        "workers": settings.workers,
        "log_level": settings.log_level,
        # uvloop and httptools (uvicorn[standard]) when installed: named, so that their absence shows.
        "loop": _installed("uvloop", "asyncio"),
        "http": _installed("httptools", "h11"),
        # Applied in every worker too; our request log line replaces uvicorn's access log.
        "log_config": logging_config(settings.log_format or "json", settings.log_level),
        "access_log": False,
        # A WebSocket message is refused (1009) past MAX_BODY_BYTES, like a POST body, before it is
        # buffered (uvicorn would take 16 MiB), and at most 4 of them wait to be handled.
        # uvicorn's sans-I/O websockets protocol (its default), less what it keeps and never reads again.
        "ws": LeanWebSocketsProtocol,
        "ws_max_size": settings.max_body_bytes,
        "ws_max_queue": 4,
        "ws_per_message_deflate": settings.ws_per_message_deflate,
        # No `Server: uvicorn` on every response: it tells an attacker what to try.
        "server_header": False,
        # At a stop, requests in flight are answered: each within its time limit, plus time to send it.
        "timeout_graceful_shutdown": settings.request_timeout_seconds + DRAIN_MARGIN_SECONDS,
    }
    try:
        run_uvicorn("graphql_api.http.app:app_from_env", options)
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _exit_0(_signal: int, _frame: FrameType | None) -> None:
    raise SystemExit(0)


async def prepare_demo(settings: Settings) -> DemoKey:
    """Migrate, seed demo data if there is none, and return the demo key."""
    from graphql_api.cli.demo import demo_key
    from graphql_api.cli.seed import Plan
    from graphql_api.data.migrate import upgrade

    await with_engine(settings, upgrade, migrated=False)
    if not await project_list(settings):
        logger.info("seeding demo data")
        await seed_empty_database(settings, Plan())
    return await with_engine(settings, lambda engine: demo_key(engine, settings.database_url))


def _print_demo(settings: Settings, key: DemoKey) -> None:
    print(f"Demo project: {key.project_name} (id {key.project_id})")
    # One line of its own, nothing after the secret: scripts read it (bench/contention.py).
    print(f"Demo API key: {key.secret}")
    if key.file is not None:
        where = os.path.relpath(key.file) if key.file.is_relative_to(Path.cwd()) else str(key.file)
        kept = "the key of the last start, kept in" if key.reused else "a new key, kept in"
        later = "" if key.reused else " for the next start on this database"
        print(f"  {kept} {where}{later} (in a shell: KEY=$(cat {where}))")
    else:
        print("  a new key at each start on this database; those printed before keep working until revoked")
    print(f"GraphiQL: http://{settings.host}:{settings.port}/graphql")
    print('Headers for GraphiQL: {"ApiKey": "' + key.secret + '"}')
    sys.stdout.flush()


async def _serve_problem(settings: Settings) -> str | None:
    """Why the server could not answer from the database it reads (not migrated), or None. A database
    that does not answer yet is no reason to stay down: the server reports it (/readyz) until it does."""
    from graphql_api.data.database import api_error, create_engine
    from graphql_api.data.migrate import schema_problem

    url = settings.database_read_url or settings.database_url
    engine = create_engine(settings, url=url)
    try:
        return await schema_problem(url, engine)
    except Exception as exc:
        if (problem := _sqlite_file_problem(url, exc)) is not None:
            return problem
        if api_error(exc) is None:
            raise
        logger.warning("the database does not answer yet: %s", str(exc).splitlines()[0] if str(exc) else exc)
        return None
    finally:
        await engine.dispose()


def _sqlite_file_problem(url: str, exc: Exception) -> str | None:
    """What is wrong with an SQLite file the server cannot open as it must, or None: unlike a server
    that is not up yet, a file that is read-only or out of reach stays so until someone acts."""
    import sqlite3

    from sqlalchemy.engine import make_url

    driver_error = getattr(exc, "orig", exc)
    name = getattr(driver_error, "sqlite_errorname", "")
    if not isinstance(driver_error, sqlite3.Error) or not name.startswith(
        ("SQLITE_READONLY", "SQLITE_CANTOPEN", "SQLITE_PERM")
    ):
        return None
    return (
        f"cannot open the SQLite database at {make_url(url).database} ({driver_error}): the server reads "
        "it in WAL mode, which needs the file and its directory writable by this user"
    )


def _installed(module: str, fallback: str) -> str:
    return module if importlib.util.find_spec(module) else fallback
