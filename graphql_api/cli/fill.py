"""Filling a database: `graphql-api db upgrade` (its schema), `seed` (demo data) and `import` (logs
from JSON lines)."""

from __future__ import annotations

import argparse
import json
import logging
import sys
from typing import TYPE_CHECKING

from graphql_api.cli.base import CliError, parse_when, progress_bar, project_list, with_engine
from graphql_api.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

    from graphql_api.cli.importer import Summary as ImportSummary
    from graphql_api.cli.seed import Plan, Summary

logger = logging.getLogger("graphql_api.cli")


async def cmd_db_upgrade(args: argparse.Namespace, settings: Settings) -> int:
    from graphql_api.data.migrate import upgrade

    await with_engine(settings, upgrade, migrated=False)
    logger.info("database migrated to head")
    return 0


async def seed_empty_database(settings: Settings, plan: Plan) -> Summary:
    """Seed `plan` into a database without projects (in the same transaction as the check)."""
    from graphql_api.cli.seed import seed_demo
    from graphql_api.data import queries
    from graphql_api.data.migrate import location

    async def work(engine: AsyncEngine) -> Summary:
        async with engine.begin() as conn:
            if projects := await queries.list_projects(conn):
                raise CliError(
                    f"the database at {location(settings.database_url)} already has {len(projects)} "
                    "project(s): seed fills an empty database only (use a new DATABASE_URL to start over)"
                )
            with progress_bar(plan.logs) as bar:
                return await seed_demo(conn, plan, progress=bar.update)

    return await with_engine(settings, work)


async def cmd_seed(args: argparse.Namespace, settings: Settings) -> int:
    from graphql_api.cli.seed import Plan

    if not args.demo:
        raise CliError("nothing to seed: pass --demo")
    if args.projects < 1 or args.logs < args.projects:
        raise CliError("--projects must be at least 1 and --logs at least --projects")
    plan = Plan(projects=args.projects, logs=args.logs, seed=args.seed)
    if "now" in args:
        plan.now = parse_when("--now", args.now)
    summary = await seed_empty_database(settings, plan)
    print(json.dumps({"projects": summary.projects, "logs": summary.logs}))
    return 0


async def cmd_import(args: argparse.Namespace, settings: Settings) -> int:
    from sqlalchemy.exc import DBAPIError

    from graphql_api.cli.importer import ImportFailed, count_lines, import_lines
    from graphql_api.data.kinds import canonical_id

    project_id = canonical_id(args.project_id)
    if project_id is None:
        raise CliError(f"--project-id: not a project id (a UUID): {args.project_id!r}")
    try:
        source = sys.stdin.buffer if args.file == "-" else open(args.file, "rb")  # noqa: SIM115
        total = None if args.file == "-" else count_lines(args.file)
    except OSError as exc:
        raise CliError(f"cannot read {args.file}: {exc.strerror}") from None

    async def work(engine: AsyncEngine) -> ImportSummary:
        with progress_bar(total) as bar:
            async with engine.begin() as conn:  # one transaction: all lines or none
                return await import_lines(conn, source, project_id=project_id, progress=bar.update)

    with source:
        if not args.create_project and project_id not in {p["id"] for p in await project_list(settings)}:
            raise CliError(
                f"no project with id {project_id}: check it with `graphql-api projects`, "
                "or pass --create-project to create it"
            )
        try:
            summary = await with_engine(settings, work)
        except ImportFailed as exc:
            raise CliError(f"{exc} (nothing was imported)") from None
        except DBAPIError as exc:  # a full disk, a lost connection: the transaction was rolled back
            reason = str(exc.orig).splitlines()[0] if str(exc.orig) else type(exc.orig).__name__
            raise CliError(f"the database failed: {reason} (nothing was imported)") from None
    print(json.dumps(summary.as_dict()))
    return 0
