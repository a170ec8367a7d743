"""The key `serve --demo` prints: the same at every start on one SQLite database.

Only a key's hash is stored, so the secret is kept in a file next to the database
(`graphql_api.db.demo-key`, readable by its owner only) and used again while it still works. A database
without a file of its own (PostgreSQL) gets a new key at each start; the earlier ones keep working until
revoked.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncEngine

from graphql_api.data import queries
from graphql_api.data.auth import Authenticator
from graphql_api.data.migrate import sqlite_path
from graphql_api.data.writes import create_api_key
from graphql_api.errors import Unauthenticated

logger = logging.getLogger("graphql_api.demo")

PERMISSIONS = ["ReadWhatsAppLog"]


@dataclass(frozen=True)
class DemoKey:
    secret: str
    project_id: str
    project_name: str
    # Where the secret is kept for the next start; None: nowhere (a new key at each start).
    file: Path | None
    reused: bool


def key_file(url: str) -> Path | None:
    """Where the demo secret of the database at `url` is kept: next to its SQLite file, else nowhere."""
    path = sqlite_path(url)
    return path.with_name(path.name + ".demo-key") if path is not None else None


def _read(file: Path | None) -> str | None:
    if file is None:
        return None
    try:
        return file.read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _keep(file: Path, secret: str) -> bool:
    try:
        descriptor = os.open(file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "w", encoding="utf-8") as out:
            out.write(secret + "\n")
    except OSError as exc:
        logger.warning("cannot keep the demo key in %s (%s): a new key at each start", file, exc.strerror)
        return False
    return True


async def demo_key(engine: AsyncEngine, url: str) -> DemoKey:
    """The kept demo key when it still works (not revoked, not expired, can read logs), else a new key
    for the first project, kept for the next start. The database must have a project."""
    file = key_file(url)
    async with engine.begin() as conn:
        names = {row.id: row.name for row in await queries.list_projects(conn)}
        kept = _read(file)
        if kept is not None:
            try:
                principal = await Authenticator(cache_seconds=0).authenticate(conn, kept)
            except Unauthenticated:
                principal = None
            if principal is not None and principal.can_read_logs:
                project = principal.project_id
                return DemoKey(kept, project, names.get(project, ""), file, reused=True)
        project = next(iter(names))
        key = await create_api_key(conn, project_id=project, permissions=PERMISSIONS, name="demo")
    kept_in = file if file is not None and _keep(file, key.secret) else None
    return DemoKey(key.secret, project, names[project], kept_in, reused=False)
