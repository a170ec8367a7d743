"""`graphql-api import` when the process or the disk gives out midway: an import is one transaction, so
the database keeps exactly what it had, its live counts (the trigger-kept table the unfiltered counts
read) equal its live rows, and the next import works. And an SQLite file checkpointed under load.
"""

from __future__ import annotations

import asyncio
import json
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from tests.factories import Factory
from tests.fault_load import Load, assert_survived, serving

# Six of the importer's chunks: killed after the first is written, the import is well short of its end.
LINES = 30_000


def write_file(path: Path, lines: int) -> Path:
    with path.open("w") as out:
        for i in range(lines):
            log = {"toNumber": f"+1-555-{i:07d}", "status": "Sent", "whatsAppCostInUSDCents": i % 500}
            out.write(json.dumps({**log, "messageText": f"imported {i}"}) + "\n")
    return path


def import_command(database_url: str, path: Path, project: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "graphql_api",
        "--database-url",
        database_url,
        "import",
        str(path),
        "--project-id",
        project,
    ]


def state(database_url: str) -> dict[str, Any]:
    """Rows, live rows per project, live counts per project, and SQLite's integrity check."""

    async def read() -> dict[str, Any]:
        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                found: dict[str, Any] = {
                    "rows": (await conn.execute(text("SELECT count(*) FROM whatsapp_log"))).scalar(),
                    "live": dict(
                        (
                            await conn.execute(
                                text(
                                    "SELECT project_id, count(*) FROM whatsapp_log WHERE deleted_at IS NULL"
                                    " GROUP BY project_id"
                                )
                            )
                        ).all()
                    ),
                    "counted": dict(
                        (
                            await conn.execute(
                                text("SELECT project_id, live_logs FROM whatsapp_log_live_count")
                            )
                        ).all()
                    ),
                }
                if conn.dialect.name == "sqlite":
                    found["integrity"] = (await conn.execute(text("PRAGMA integrity_check"))).scalar()
                return found
        finally:
            await engine.dispose()

    found = asyncio.run(read())
    found["live"] = {str(project): n for project, n in found["live"].items()}
    counted = {str(project): n for project, n in found["counted"].items() if n}
    assert counted == found["live"], "live counts differ from the live rows"
    return found


def _started_writing(database_url: str) -> bool:
    """The import's transaction has written its first chunk."""
    url = make_url(database_url)
    if url.get_backend_name() == "sqlite":
        wal = Path(f"{url.database}-wal")
        return wal.exists() and wal.stat().st_size > 1_000_000

    async def ask() -> bool:
        engine = create_async_engine(database_url, poolclass=NullPool)
        try:
            async with engine.connect() as conn:
                query = (
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE application_name = 'graphql_api-cli' AND backend_xid IS NOT NULL"
                )
                return bool((await conn.execute(text(query))).scalar())
        finally:
            await engine.dispose()

    return asyncio.run(ask())


def test_an_import_killed_midway_leaves_the_database_as_it_was(
    database_url: str, factory: Factory, tmp_path: Path
) -> None:
    project = factory.project()
    factory.logs(project, 7)
    before = state(database_url)
    path = write_file(tmp_path / "logs.jsonl", LINES)

    process = subprocess.Popen(
        import_command(database_url, path, project), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        deadline = time.monotonic() + 60
        while not _started_writing(database_url):
            assert process.poll() is None, "the import ended before it could be killed"
            assert time.monotonic() < deadline, "the import wrote nothing in 60 s"
            time.sleep(0.05)
        process.send_signal(signal.SIGKILL)
    finally:
        process.wait(timeout=30)
    assert process.returncode == -signal.SIGKILL, "the import finished before it was killed"

    assert state(database_url) == before
    # Nothing is left locked or half-done: the next import goes through.
    small = write_file(tmp_path / "small.jsonl", 100)
    done = subprocess.run(
        import_command(database_url, small, project), capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert state(database_url)["live"] == {project: 7 + 100}


@pytest.mark.backends("sqlite")
def test_a_disk_full_during_an_import_writes_nothing_and_says_so_in_one_line(
    database_url: str, factory: Factory, tmp_path: Path
) -> None:
    project = factory.project()
    factory.logs(project, 7)
    before = state(database_url)
    path = write_file(tmp_path / "logs.jsonl", LINES)
    database = Path(make_url(database_url).database or "")
    # As a full disk: no file of the process may grow past this (SQLite gets ENOSPC's cousin, EFBIG,
    # or a short write: SQLITE_FULL). The database's files are far smaller; the import's WAL is not.
    limit = database.stat().st_size + 2_000_000

    def limited() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    done = subprocess.run(
        import_command(database_url, path, project),
        capture_output=True,
        text=True,
        timeout=300,
        preexec_fn=limited,  # noqa: PLW1509 - only the limit, before exec
    )

    assert done.returncode == 1, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), done.stderr
    print(f"\n{lines[0]}")
    # "disk I/O error" (the limit falls on a page: EFBIG) or "database or disk is full" (a short write)
    assert lines[0].startswith("error: the database failed: "), lines[0]
    assert lines[0].endswith("(nothing was imported)"), lines[0]
    assert state(database_url) == {**before, "integrity": "ok"}


@pytest.mark.backends("sqlite")
def test_checkpoints_while_the_server_reads_and_the_cli_writes(
    database_url: str, factory: Factory, tmp_path: Path
) -> None:
    project = factory.project()
    factory.logs(project, 20)
    key = factory.api_key(project)
    database = make_url(database_url).database or ""
    path = write_file(tmp_path / "logs.jsonl", 3_000)
    checkpoints: list[tuple[int, int, int]] = []
    stop = threading.Event()

    def checkpoint() -> None:
        import sqlite3

        conn = sqlite3.connect(database, timeout=10)
        try:
            while not stop.wait(0.1):
                row = conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()
                checkpoints.append(tuple(row))
        finally:
            conn.close()

    with serving(database_url, tmp_path) as server, Load(server.url, key) as load:
        load.wait_until("ok", since=time.monotonic(), timeout=30)
        started = time.monotonic()
        checkpointer = threading.Thread(target=checkpoint)
        checkpointer.start()
        try:
            for _ in range(3):
                done = subprocess.run(
                    import_command(database_url, path, project), capture_output=True, text=True, timeout=120
                )
                assert done.returncode == 0, done.stderr
        finally:
            stop.set()
            checkpointer.join()
        repaired = time.monotonic()
        result = assert_survived(load, server, started=started, repaired=repaired, expected=frozenset())
    after = state(database_url)
    assert (after["integrity"], after["live"]) == ("ok", {project: 20 + 3 * 3_000})
    # Checkpoints ran to the end (not busy) while pages were read and logs written.
    assert any(busy == 0 for busy, _, _ in checkpoints), checkpoints[:5]
    print(f"\n{len(checkpoints)} checkpoints under load: {result.during}")
