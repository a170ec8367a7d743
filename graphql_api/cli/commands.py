"""The `graphql-api` command: serve, db upgrade, seed, projects, api-key, export-schema, import.

Results go to stdout, logs to stderr; an error is one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.util
import json
import logging
import os
import secrets
import shutil
import sys
import tempfile
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from graphql_api.settings import Settings

logger = logging.getLogger("graphql_api.cli")


class CliError(Exception):
    """An error the user can act on; printed as one line."""


Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


def _settings(args: argparse.Namespace) -> Settings:
    overrides: dict[str, Any] = {}
    for name in ("database_url", "host", "port", "workers", "log_level"):
        value = getattr(args, name, None)
        if value is not None:
            overrides[name] = value
    return Settings.from_env(**overrides)


async def _with_engine(
    settings: Settings, work: Callable[[Any], Awaitable[Any]], *, migrated: bool = True
) -> Any:
    """Run `work` on an engine for the primary database; `migrated`: refuse a database that is not
    migrated (without creating an SQLite file that does not exist)."""
    from graphql_api.data.database import create_engine
    from graphql_api.data.migrate import schema_problem

    engine = create_engine(settings)
    try:
        if migrated and (problem := await schema_problem(settings.database_url, engine)):
            raise CliError(problem)
        return await work(engine)
    finally:
        await engine.dispose()


async def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from graphql_api.data.migrate import upgrade

    await _with_engine(settings, upgrade, migrated=False)
    logger.info("database migrated to head")
    return 0


def _progress_bar(total: int | None) -> Any:
    from tqdm import tqdm

    return tqdm(total=total, unit="log", file=sys.stderr, disable=not sys.stderr.isatty())


async def _seed(settings: Settings, plan: Any) -> Any:
    """Seed `plan` into a database without projects (in the same transaction as the check)."""
    from graphql_api.cli.seed import seed_demo
    from graphql_api.data import queries
    from graphql_api.data.migrate import location

    async def work(engine: Any) -> Any:
        async with engine.begin() as conn:
            if projects := await queries.list_projects(conn):
                raise CliError(
                    f"the database at {location(settings.database_url)} already has {len(projects)} "
                    "project(s): seed fills an empty database only (use a new DATABASE_URL to start over)"
                )
            with _progress_bar(plan.logs) as bar:
                return await seed_demo(conn, plan, progress=bar.update)

    return await _with_engine(settings, work)


async def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    from graphql_api.cli.seed import Plan

    if not args.demo:
        raise CliError("nothing to seed: pass --demo")
    if args.projects < 1 or args.logs < args.projects:
        raise CliError("--projects must be at least 1 and --logs at least --projects")
    plan = Plan(projects=args.projects, logs=args.logs, seed=args.seed)
    if "now" in args:
        plan.now = _parse_when("--now", args.now)
    summary = await _seed(settings, plan)
    print(json.dumps({"projects": summary.projects, "logs": summary.logs}))
    return 0


async def _projects(settings: Settings) -> list[dict[str, str]]:
    from graphql_api.data import queries

    async def work(engine: Any) -> list[dict[str, str]]:
        async with engine.connect() as conn:
            return [{"id": row.id, "name": row.name} for row in await queries.list_projects(conn)]

    return await _with_engine(settings, work)  # type: ignore[no-any-return]


async def cmd_projects(args: argparse.Namespace, settings: Settings) -> int:
    projects = await _projects(settings)
    if args.json:
        print(json.dumps(projects))
    else:
        for project in projects:
            print(f"{project['id']}  {project['name']}")
    return 0


def _parse_when(option: str, value: str) -> datetime:
    """An ISO 8601 date-time; UTC when it has no offset."""
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise CliError(f"{option}: not an ISO 8601 date-time: {value!r}") from None
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed


async def cmd_api_key_create(args: argparse.Namespace, settings: Settings) -> int:
    from graphql_api.data.auth import PERMISSIONS
    from graphql_api.data.filters import canonical_id
    from graphql_api.data.writes import create_api_key

    unknown = [p for p in args.permission if p not in PERMISSIONS]
    if unknown:
        raise CliError(f"unknown permission {unknown[0]!r}; known: {', '.join(sorted(PERMISSIONS))}")
    expires_at = _parse_when("--expires-at", args.expires_at) if args.expires_at else None
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise CliError(f"--expires-at {expires_at.isoformat()} is in the past: the key would never work")
    project_id = canonical_id(args.project_id)
    if project_id is None or project_id not in {p["id"] for p in await _projects(settings)}:
        raise CliError(f"no project with id {args.project_id!r} (`graphql-api projects` lists them)")

    async def work(engine: Any) -> Any:
        async with engine.begin() as conn:
            return await create_api_key(
                conn,
                project_id=project_id,
                permissions=args.permission,
                name=args.name,
                expires_at=expires_at,
            )

    key = await _with_engine(settings, work)
    print(f"id: {key.id}")
    print(f"prefix: {key.prefix}")
    print("The secret is shown once; store it now:", file=sys.stderr)
    print(key.secret)
    return 0


# Fewer characters of an id or a prefix than this match too many keys to be meant.
SHORTEST_REFERENCE = 4


def _the_key(reference: str, keys: Sequence[Any]) -> Any:
    """The one key `reference` names: its id, the start of its id, or its prefix as `list` prints it."""
    from graphql_api.data.auth import SECRET_PREFIX
    from graphql_api.data.filters import canonical_id

    wanted = reference.strip()
    full_id = canonical_id(wanted)
    if full_id is not None:
        matches = [key for key in keys if key.id == full_id]
    elif len(wanted.removeprefix(SECRET_PREFIX)) < SHORTEST_REFERENCE:
        raise CliError(
            f"{reference!r} is too short: give the key's id or its prefix, as `api-key list` prints"
        )
    elif wanted.startswith(SECRET_PREFIX):
        matches = [key for key in keys if key.prefix.startswith(wanted)]
    else:
        matches = [key for key in keys if str(key.id).startswith(wanted.lower())]
    if not matches:
        raise CliError(f"no key with id or prefix {reference!r} (`graphql-api api-key list` shows them)")
    if len(matches) > 1:
        ids = ", ".join(str(key.id) for key in matches)
        raise CliError(f"{reference!r} matches {len(matches)} keys ({ids}): give more of it, or the full id")
    return matches[0]


async def cmd_api_key_revoke(args: argparse.Namespace, settings: Settings) -> int:
    from graphql_api.data import queries
    from graphql_api.data.writes import revoke_api_key

    async def work(engine: Any) -> Any:
        async with engine.begin() as conn:
            key = _the_key(args.id, await queries.list_api_keys(conn))
            if key.revoked_at is not None:
                raise CliError(
                    f"the key {key.id} ({key.prefix}) was revoked already, at {key.revoked_at.isoformat()}"
                )
            await revoke_api_key(conn, key_id=key.id)
            return key

    key = await _with_engine(settings, work)
    print(f"revoked {key.id} ({key.prefix}, {key.name!r})")
    return 0


async def cmd_api_key_list(args: argparse.Namespace, settings: Settings) -> int:
    from graphql_api.data import queries
    from graphql_api.data.filters import canonical_id

    project_id = canonical_id(args.project_id) or args.project_id

    async def work(engine: Any) -> Any:
        async with engine.connect() as conn:
            return await queries.list_api_keys(conn, project_id=project_id)

    rows = await _with_engine(settings, work)
    keys = [
        {
            "id": row.id,
            "name": row.name,
            "prefix": row.prefix,
            "permissions": list(row.permissions),
            "createdAt": row.created_at.isoformat(),
            "expiresAt": row.expires_at.isoformat() if row.expires_at else None,
            "revokedAt": row.revoked_at.isoformat() if row.revoked_at else None,
        }
        for row in rows
    ]
    print(json.dumps(keys, indent=2))
    return 0


async def cmd_export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from graphql_api.schema import build_schema

    sdl = build_schema().as_str() + "\n"
    if args.output:
        Path(args.output).write_text(sdl, encoding="utf-8")
    else:
        sys.stdout.write(sdl)
    return 0


async def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from graphql_api.cli.importer import ImportFailed, count_lines, import_lines
    from graphql_api.data.filters import canonical_id

    project_id = canonical_id(args.project_id)
    if project_id is None:
        raise CliError(f"--project-id: not a project id (a UUID): {args.project_id!r}")
    try:
        source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
        total = None if args.file == "-" else count_lines(args.file)
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror}") from None

    async def work(engine: Any) -> Any:
        with _progress_bar(total) as bar:
            async with engine.begin() as conn:  # one transaction: all lines or none
                return await import_lines(conn, source, project_id=project_id, progress=bar.update)

    with source:
        if not args.create_project and project_id not in {p["id"] for p in await _projects(settings)}:
            raise CliError(
                f"no project with id {project_id}: check it with `graphql-api projects`, "
                "or pass --create-project to create it"
            )
        try:
            summary = await _with_engine(settings, work)
        except ImportFailed as exc:
            raise CliError(f"{exc} (nothing was imported)") from None
    print(json.dumps(summary.as_dict()))
    return 0


async def prepare_demo(settings: Settings) -> Any:
    """Migrate, seed demo data if there is none, and return the demo key (graphql_api.cli.demo.DemoKey)."""
    from graphql_api.cli.demo import demo_key
    from graphql_api.cli.seed import Plan
    from graphql_api.data.migrate import upgrade

    await _with_engine(settings, upgrade, migrated=False)
    if not await _projects(settings):
        logger.info("seeding demo data")
        await _seed(settings, Plan())
    return await _with_engine(settings, lambda engine: demo_key(engine, settings.database_url))


def _print_demo(settings: Settings, key: Any) -> None:
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
        if api_error(exc) is None:
            raise
        logger.warning("the database does not answer yet: %s", str(exc).splitlines()[0] if str(exc) else exc)
        return None
    finally:
        await engine.dispose()


def _installed(module: str, fallback: str) -> str:
    return module if importlib.util.find_spec(module) else fallback


def run_bench(argv: Sequence[str]) -> int:
    """The benchmark (bench/ in the source tree); `graphql-api bench --help` lists its options."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "bench" / "__main__.py").exists():
        print("error: the benchmark is in the source checkout (bench/): install it editable", file=sys.stderr)
        return 1
    sys.path.insert(0, str(root))
    from bench.cli import main as bench_main

    return bench_main(argv)


def serve(settings: Settings, *, demo: bool) -> int:
    import uvicorn

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
    try:
        uvicorn.run(
            "graphql_api.http.app:app_from_env",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            log_level=settings.log_level,
            # uvloop and httptools (uvicorn[standard]) when installed: named, so that their absence shows.
            loop=_installed("uvloop", "asyncio"),
            http=_installed("httptools", "h11"),
            # Applied in every worker too; our request log line replaces uvicorn's access log.
            log_config=logging_config(settings.log_format or "json", settings.log_level),
            access_log=False,
            # No `Server: uvicorn` on every response: it tells an attacker what to try.
            server_header=False,
        )
    finally:
        if metrics_dir:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def build_parser() -> argparse.ArgumentParser:
    from graphql_api.data.auth import PERMISSIONS, READ_PERMISSIONS

    parser = argparse.ArgumentParser(prog="graphql-api", description=__doc__)
    parser.add_argument("--database-url", help="overrides DATABASE_URL")
    parser.add_argument("--log-level", help="overrides LOG_LEVEL (debug, info, warning, error)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = commands.add_parser("serve", help="run the HTTP server")
    p.add_argument("--host")
    p.add_argument("--port", type=int)
    p.add_argument("--workers", type=int, help="number of server processes")
    p.add_argument("--demo", action="store_true", help="migrate, seed demo data and print a demo key first")

    db = commands.add_parser("db", help="database schema").add_subparsers(dest="db_command", required=True)
    p = db.add_parser("upgrade", help="apply the Alembic migrations up to head")
    p.set_defaults(handler=cmd_db_upgrade)

    p = commands.add_parser(
        "seed",
        help="insert demo data into an empty database",
        description="Insert demo data into a migrated database that has no projects yet (a second run is "
        "refused). The logs span the 90 days before --now.",
        formatter_class=argparse.ArgumentDefaultsHelpFormatter,
    )
    p.add_argument("--demo", action="store_true", help="realistic demo projects and logs")
    p.add_argument("--projects", type=int, default=3, help="how many projects")
    p.add_argument("--logs", type=int, default=5000, help="total over all projects")
    p.add_argument(
        "--seed", type=int, default=1, help="random seed; the same seed and --now give the same data"
    )
    p.add_argument(
        "--now",
        metavar="ISO",
        default=argparse.SUPPRESS,
        help="when the data ends, an ISO 8601 date-time (UTC without an offset) (default: the current time)",
    )
    p.set_defaults(handler=cmd_seed)

    p = commands.add_parser("projects", help="list projects")
    p.add_argument("--json", action="store_true", help="print a JSON array of {id, name}")
    p.set_defaults(handler=cmd_projects)

    keys = commands.add_parser("api-key", help="manage API keys").add_subparsers(
        dest="key_command", required=True
    )
    p = keys.add_parser("create", help="create a key; prints its secret once, as the last line")
    p.add_argument("--project-id", required=True)
    p.add_argument(
        "--permission",
        action="append",
        required=True,
        metavar="PERMISSION",
        help=f"repeat for several; one of {', '.join(sorted(PERMISSIONS))}. Reading logs needs one of "
        f"{', '.join(sorted(READ_PERMISSIONS))}",
    )
    p.add_argument("--name", default="API key", help="a label for people (default: %(default)s)")
    p.add_argument(
        "--expires-at", metavar="ISO", help="ISO 8601 date-time in the future (UTC without an offset)"
    )
    p.set_defaults(handler=cmd_api_key_create)
    p = keys.add_parser("revoke", help="revoke a key by its id or its prefix, as `api-key list` prints them")
    p.add_argument(
        "id", metavar="ID_OR_PREFIX", help="the key's id (or its first characters) or its wal_ prefix"
    )
    p.set_defaults(handler=cmd_api_key_revoke)
    p = keys.add_parser("list", help="list a project's keys (never their secrets)")
    p.add_argument("--project-id", required=True)
    p.set_defaults(handler=cmd_api_key_list)

    p = commands.add_parser("export-schema", help="print or write the GraphQL SDL")
    p.add_argument("--output", help="write to this file instead of stdout")
    p.set_defaults(handler=cmd_export_schema)

    p = commands.add_parser("bench", help="the benchmark (bench/README.md): graphql-api bench --help")

    p = commands.add_parser("import", help="import WhatsApp logs from JSON lines (all or nothing)")
    p.add_argument("file", metavar="FILE.jsonl", help="one log per line in the REST shape; - for stdin")
    p.add_argument("--project-id", required=True, help="the project the logs go to")
    p.add_argument(
        "--create-project",
        action="store_true",
        help="create the project when the database does not have it (else that is an error, so that a "
        "mistyped id never makes a new tenant)",
    )
    p.set_defaults(handler=cmd_import)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["bench"]:  # its options are the benchmark's own (argparse would take --help)
        return run_bench(argv[1:])
    args = build_parser().parse_args(argv)
    try:
        settings = _settings(args)
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    from graphql_api.http.logs import configure_logging

    try:
        # The server logs JSON lines (one per request) unless told otherwise; other commands, text.
        configure_logging(
            settings.log_format or ("json" if args.command == "serve" else "text"), settings.log_level
        )
    except ValueError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if settings.log_level.lower() != "debug":
        # Alembic announces every plugin it loads at INFO.
        logging.getLogger("alembic").setLevel(logging.WARNING)
    try:
        if args.command == "serve":
            return serve(settings, demo=args.demo)
        handler: Handler = args.handler
        return asyncio.run(handler(args, settings))
    except CliError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # noqa: BLE001 - one line for the user, details in the log at debug
        logger.debug("command failed", exc_info=True)
        print(f"error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
