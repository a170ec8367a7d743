"""`graphql-api projects` and `graphql-api api-key create | revoke | list`: who may read which project."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from graphql_api.cli.base import CliError, parse_when, project_list, with_engine
from graphql_api.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.ext.asyncio import AsyncEngine

# Fewer characters of an id or a prefix than this match too many keys to be meant.
SHORTEST_REFERENCE = 4


async def cmd_projects(args: argparse.Namespace, settings: Settings) -> int:
    projects = await project_list(settings)
    if args.json:
        print(json.dumps(projects))
    else:
        for project in projects:
            print(f"{project['id']}  {project['name']}")
    return 0


async def cmd_api_key_create(args: argparse.Namespace, settings: Settings) -> int:
    from graphql_api.data.auth import PERMISSIONS
    from graphql_api.data.kinds import canonical_id
    from graphql_api.data.writes import create_api_key

    unknown = [p for p in args.permission if p not in PERMISSIONS]
    if unknown:
        raise CliError(f"unknown permission {unknown[0]!r}; known: {', '.join(sorted(PERMISSIONS))}")
    expires_at = parse_when("--expires-at", args.expires_at) if args.expires_at else None
    if expires_at is not None and expires_at <= datetime.now(UTC):
        raise CliError(f"--expires-at {expires_at.isoformat()} is in the past: the key would never work")
    project_id = canonical_id(args.project_id)
    if project_id is None or project_id not in {p["id"] for p in await project_list(settings)}:
        raise CliError(f"no project with id {args.project_id!r} (`graphql-api projects` lists them)")

    async def work(engine: AsyncEngine) -> Any:
        async with engine.begin() as conn:
            return await create_api_key(
                conn,
                project_id=project_id,
                permissions=args.permission,
                name=args.name,
                expires_at=expires_at,
            )

    key = await with_engine(settings, work)
    print(f"id: {key.id}")
    print(f"prefix: {key.prefix}")
    print("The secret is shown once; store it now:", file=sys.stderr)
    print(key.secret)
    return 0


def _the_key(reference: str, keys: Sequence[Any]) -> Any:
    """The one key `reference` names: its id, the start of its id, or its prefix as `list` prints it."""
    from graphql_api.data.auth import SECRET_PREFIX
    from graphql_api.data.kinds import canonical_id

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

    async def work(engine: AsyncEngine) -> Any:
        async with engine.begin() as conn:
            key = _the_key(args.id, await queries.list_api_keys(conn))
            if key.revoked_at is not None:
                raise CliError(
                    f"the key {key.id} ({key.prefix}) was revoked already, at {key.revoked_at.isoformat()}"
                )
            await revoke_api_key(conn, key_id=key.id)
            return key

    key = await with_engine(settings, work)
    print(f"revoked {key.id} ({key.prefix}, {key.name!r})")
    return 0


async def cmd_api_key_list(args: argparse.Namespace, settings: Settings) -> int:
    from graphql_api.data import queries
    from graphql_api.data.kinds import canonical_id

    project_id = canonical_id(args.project_id) or args.project_id

    async def work(engine: AsyncEngine) -> Any:
        async with engine.connect() as conn:
            return await queries.list_api_keys(conn, project_id=project_id)

    rows = await with_engine(settings, work)
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
