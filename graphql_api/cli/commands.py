"""The `graphql-api` command: serve, db upgrade, seed, projects, api-key, export-schema, import.

Results go to stdout, logs to stderr; an error is one line on stderr and a non-zero exit code.
"""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import Any

from graphql_api.cli.api_keys import cmd_api_key_create, cmd_api_key_list, cmd_api_key_revoke, cmd_projects
from graphql_api.cli.base import CliError, settings_from
from graphql_api.cli.fill import cmd_db_upgrade, cmd_import, cmd_seed
from graphql_api.cli.serve import serve
from graphql_api.settings import Settings

logger = logging.getLogger("graphql_api.cli")

Handler = Callable[[argparse.Namespace, Settings], Coroutine[Any, Any, int]]


async def cmd_export_schema(args: argparse.Namespace, settings: Settings) -> int:
    from graphql_api.schema import build_schema

    sdl = build_schema().as_str() + "\n"
    if args.output:
        Path(args.output).write_text(sdl, encoding="utf-8")
    else:
        sys.stdout.write(sdl)
    return 0


def run_bench(argv: Sequence[str]) -> int:
    """The benchmark (bench/ in the source tree); `graphql-api bench --help` lists its options."""
    root = Path(__file__).resolve().parents[2]
    if not (root / "bench" / "__main__.py").exists():
        print("error: the benchmark is in the source checkout (bench/): install it editable", file=sys.stderr)
        return 1
    sys.path.insert(0, str(root))
    from bench.cli import main as bench_main

    return bench_main(argv)


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
        settings = settings_from(args)
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
