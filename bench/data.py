"""The benchmark's database: built once through the project's migrations and bulk loader, then reused.

The file is keyed by the data's parameters; a reused file is still migrated to head, so an index added
by a later migration is there without rebuilding a million rows.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from graphql_api import writes
from graphql_api.migrate import upgrade
from graphql_api.seed import Plan, seed_demo

CACHE = Path(__file__).parent / ".cache"
logger = logging.getLogger("bench")


@dataclass(frozen=True)
class Dataset:
    path: Path
    url: str
    largest_project: str
    typical_project: str
    # A secret per project, made for this run (keys are cheap; the hash is all that is stored).
    keys: dict[str, str]
    built_seconds: float | None


def plan_for(logs: int, projects: int = 50, seed: int = 1) -> Plan:
    """The issue's data: 50 projects, one with 40% of the logs, texts of 50 to 1,000 characters."""
    return Plan(projects=projects, logs=logs, seed=seed, first_project_share=0.4, text_length=(50, 1000))


def _key(plan: Plan) -> str:
    spec = {
        "projects": plan.projects, "logs": plan.logs, "seed": plan.seed, "share": plan.first_project_share,
        "text": list(plan.text_length), "days": plan.days, "now": plan.now.isoformat(), "format": 1,
    }  # fmt: skip
    return hashlib.sha256(json.dumps(spec, sort_keys=True).encode()).hexdigest()[:12]


async def _build(url: str, plan: Plan) -> None:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        await upgrade(engine)
        async with engine.begin() as conn:
            await seed_demo(conn, plan)
    finally:
        await engine.dispose()


async def _migrate_and_key(url: str, projects: list[str]) -> dict[str, str]:
    engine = create_async_engine(url, poolclass=NullPool)
    try:
        await upgrade(engine)
        keys = {}
        async with engine.begin() as conn:
            for project_id in projects:
                created = await writes.create_api_key(
                    conn, project_id=project_id, permissions=["ReadWhatsAppLog"], name="bench"
                )
                keys[project_id] = created.secret
        return keys
    finally:
        await engine.dispose()


def prepare(plan: Plan, *, cache: Path = CACHE, rebuild: bool = False) -> Dataset:
    """The database for `plan`: reused from the cache when it is there, else built (and analysed)."""
    cache.mkdir(parents=True, exist_ok=True)
    path = cache / f"logs-{plan.logs}-{_key(plan)}.db"
    url = f"sqlite+aiosqlite:///{path}"
    built: float | None = None
    if rebuild or not path.exists():
        partial = path.with_suffix(".partial")
        for leftover in cache.glob(partial.name + "*"):
            leftover.unlink()
        logger.info("building %s (%d logs); reused by later runs", path.name, plan.logs)
        started = time.perf_counter()
        asyncio.run(_build(f"sqlite+aiosqlite:///{partial}", plan))
        with sqlite3.connect(partial) as db:
            db.execute("ANALYZE")  # the planner's statistics, as an operator would keep them
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        partial.replace(path)
        built = time.perf_counter() - started
        logger.info("built in %.0f s", built)
    with sqlite3.connect(path) as db:
        counts = db.execute(
            "SELECT project_id, count(*) FROM whatsapp_log WHERE deleted_at IS NULL "
            "GROUP BY project_id ORDER BY count(*) DESC, project_id"
        ).fetchall()
    largest = counts[0][0]
    typical = counts[len(counts) // 2][0]
    keys = asyncio.run(_migrate_and_key(url, [largest, typical]))
    with sqlite3.connect(path) as db:
        # Later migrations may have added indexes since the file was analysed.
        db.execute("ANALYZE")
    return Dataset(path, url, largest, typical, keys, built)
