"""`graphql-api serve` on an SQLite file it cannot use: missing, or read-only with a read-only directory
(where its write-ahead log cannot live). One line on stderr saying what is wrong and what to do, a
non-zero exit, and nothing created.

A read-only file is read-only to the server only when it runs without root's power to ignore file modes:
under root the server runs with CAP_DAC_OVERRIDE and CAP_FOWNER dropped (`setpriv`), else the test is
skipped with the reason.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live import free_port, skip_loudly

pytestmark = pytest.mark.backends("sqlite")


def serve(database: Path, *, prefix: tuple[str, ...] = ()) -> subprocess.CompletedProcess[str]:
    command = [*prefix, sys.executable, "-m", "graphql_api", "serve", "--port", str(free_port())]
    environ = {**os.environ, "DATABASE_URL": f"sqlite+aiosqlite:///{database}"}
    return subprocess.run(command, env=environ, capture_output=True, text=True, timeout=60, check=False)


def test_a_missing_database_file_is_one_line_and_a_non_zero_exit(tmp_path: Path) -> None:
    database = tmp_path / "not-there" / "logs.db"
    done = serve(database)
    assert done.returncode == 1
    assert done.stderr.strip().splitlines() == [
        f"error: there is no database at {database}: run `graphql-api db upgrade` to create it"
    ]
    assert not database.exists()


def test_a_read_only_database_file_is_one_line_and_a_non_zero_exit(
    database_url: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    prefix: tuple[str, ...] = ()
    if os.geteuid() == 0:
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            skip_loudly(request, "running as root without setpriv: a read-only file is writable to root")
        prefix = (setpriv, "--bounding-set", "-dac_override,-dac_read_search,-fowner")
    directory = tmp_path / "read-only"
    directory.mkdir()
    database = directory / "logs.db"
    shutil.copyfile(database_url.removeprefix("sqlite+aiosqlite:///"), database)
    database.chmod(0o444)
    directory.chmod(0o555)
    try:
        done = serve(database, prefix=prefix)
    finally:
        directory.chmod(0o755)

    assert done.returncode == 1, done.stderr
    assert done.stderr.strip().splitlines() == [
        f"error: cannot open the SQLite database at {database} (attempt to write a readonly database): "
        "the server reads it in WAL mode, which needs the file and its directory writable by this user"
    ]
    assert sorted(p.name for p in directory.iterdir()) == ["logs.db"]
