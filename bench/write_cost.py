"""`python -m bench.write_cost`: what the change feed's triggers (migration 0005) cost the platform's writes.

The same `graphql-api import` of `--lines` logs (each line about 600 bytes, in the REST shape), then the
same file again (every line an update of its log), into two fresh databases at head: one as migrated,
one with the change-feed triggers dropped (`change_triggers.CHANGE_FEED`). Rounds alternate between the
two. Reported per backend: the import's wall and CPU seconds (the importer's process; on PostgreSQL the
server's work shows in the wall time) for inserts and for updates, medians, and their ratio
with / without the triggers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from bench.data import POSTGRESQL_ENV
from graphql_api.data.migrations.change_triggers import CHANGE_FEED
from graphql_api.data.migrations.live_counts import drop_triggers

CLI = [sys.executable, "-m", "graphql_api"]
STATUSES = ("Sent", "Delivered", "Read", "Failed")


def write_file(path: Path, lines: int) -> None:
    with path.open("w", encoding="utf-8") as out:
        for n in range(lines):
            log = {
                "_id": str(uuid.UUID(int=n + 1)),
                "toNumber": f"+1-555-{n % 10_000:04d}",
                "fromNumber": "+1-555-0000",
                "messageText": f"Incident {n}: checkout latency above threshold " * 10,
                "status": STATUSES[n % len(STATUSES)],
                "whatsAppCostInUSDCents": n % 7,
                "createdAt": "2026-07-01T00:00:00Z",
            }
            out.write(json.dumps(log) + "\n")


def _cli(url: str, *args: str) -> tuple[float, float]:
    """Wall and CPU seconds of one CLI run (the child's CPU)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    subprocess.run([*CLI, "--database-url", url, *args], check=True, capture_output=True)
    wall = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return wall, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


async def _admin(url: str, statement: str) -> None:
    engine = create_async_engine(url, isolation_level="AUTOCOMMIT")
    try:
        async with engine.connect() as conn:
            await conn.execute(text(statement))
    finally:
        await engine.dispose()


async def _drop_feed(url: str) -> None:
    engine = create_async_engine(url)
    try:
        async with engine.begin() as conn:
            await conn.run_sync(lambda sync: drop_triggers(sync, sync.dialect.name, CHANGE_FEED))
    finally:
        await engine.dispose()


def _fresh(kind: str, with_feed: bool, *, workdir: Path, admin: str | None) -> str:
    name = f"write_cost_{'feed' if with_feed else 'plain'}"
    if kind == "sqlite":
        path = workdir / f"{name}.db"
        path.unlink(missing_ok=True)
        url = f"sqlite+aiosqlite:///{path}"
    else:
        assert admin is not None
        asyncio.run(_admin(admin, f"DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
        asyncio.run(_admin(admin, f"CREATE DATABASE {name}"))
        url = make_url(admin).set(database=name).render_as_string(hide_password=False)
    _cli(url, "db", "upgrade")
    if not with_feed:
        asyncio.run(_drop_feed(url))
    return url


def measure(kind: str, file: Path, rounds: int, *, workdir: Path, admin: str | None) -> dict[str, Any]:
    project = str(uuid.uuid4())
    runs: dict[str, list[tuple[float, float]]] = {}
    for _ in range(rounds):
        for with_feed in (True, False):
            url = _fresh(kind, with_feed, workdir=workdir, admin=admin)
            label = "feed" if with_feed else "plain"
            runs.setdefault(f"{label}_insert", []).append(
                _cli(url, "import", str(file), "--project-id", project, "--create-project")
            )
            runs.setdefault(f"{label}_update", []).append(
                _cli(url, "import", str(file), "--project-id", project)
            )
            if admin is not None and kind == "postgresql":  # measured: not left behind
                asyncio.run(_admin(admin, f"DROP DATABASE {make_url(url).database} WITH (FORCE)"))
    result: dict[str, Any] = {}
    for name, values in runs.items():
        result[f"{name}_wall_s"] = statistics.median(wall for wall, _ in values)
        result[f"{name}_cpu_s"] = statistics.median(cpu for _, cpu in values)
    for write in ("insert", "update"):
        for measure_name in ("wall", "cpu"):
            feed, plain = result[f"feed_{write}_{measure_name}_s"], result[f"plain_{write}_{measure_name}_s"]
            result[f"{write}_{measure_name}_ratio"] = feed / plain if plain else None
    return result


def _line(figures: dict[str, Any], write: str) -> str:
    wall = f"wall {figures[f'feed_{write}_wall_s']:.2f} / {figures[f'plain_{write}_wall_s']:.2f} s"
    cpu = f"importer CPU {figures[f'feed_{write}_cpu_s']:.2f} / {figures[f'plain_{write}_cpu_s']:.2f} s"
    ratios = f"x{figures[f'{write}_wall_ratio']:.2f}", f"x{figures[f'{write}_cpu_ratio']:.2f}"
    return f"  {write}  {wall} ({ratios[0]}), {cpu} ({ratios[1]})"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.write_cost", description=__doc__)
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--postgresql", default=os.environ.get(POSTGRESQL_ENV), help="an administrative URL")
    parser.add_argument("--json", type=Path)
    args = parser.parse_args(argv)
    report: dict[str, Any] = {"lines": args.lines, "rounds": args.rounds}
    with tempfile.TemporaryDirectory(prefix="write-cost-") as tmp:
        workdir = Path(tmp)
        file = workdir / "logs.jsonl"
        write_file(file, args.lines)
        kinds = ["sqlite", *(["postgresql"] if args.postgresql else [])]
        for kind in kinds:
            report[kind] = measure(kind, file, args.rounds, workdir=workdir, admin=args.postgresql)
            print(f"{kind}: {args.lines:,} lines; with / without the change feed's triggers (medians):")
            for write in ("insert", "update"):
                print(_line(report[kind], write))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
