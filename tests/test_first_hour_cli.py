"""The mistakes of a first hour with the command line, each answered with what to do (issue 15, items 1-6).

The line a user reads is the contract: these tests pin it, through `main([...])` or `python -m graphql_api`.
"""

from __future__ import annotations

import gc
import json
import logging
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from graphql_api.cli.commands import main
from graphql_api.data.auth import PERMISSIONS
from graphql_api.http.app import app_from_env, create_app
from graphql_api.settings import Settings
from tests.conftest import GraphQL, empty_database_url
from tests.factories import Factory
from tests.suite import suite_settings

ACCEPTED = (
    "use sqlite:///PATH or postgresql://USER:PASSWORD@HOST:PORT/DATABASE "
    "(also postgres://, sqlite+aiosqlite://, postgresql+asyncpg://)"
)


@pytest.fixture
def cli(capsys: pytest.CaptureFixture[str]) -> Any:
    """Runs `graphql-api <args>` in this process: (exit code, stdout, stderr)."""

    def run(*args: str) -> tuple[int, str, str]:
        # The CLI configures logging for a process of its own: give pytest's handlers back afterwards.
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            code = main(list(args))
        except SystemExit as exit_:  # --help
            code = int(exit_.code or 0)
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def one_error_line(result: tuple[int, str, str]) -> str:
    """The single `error: …` line of a command that failed, without the `error: `."""
    code, out, err = result
    assert code != 0 and out == "", result
    [line] = err.splitlines()
    assert line.startswith("error: "), line
    return line.removeprefix("error: ")


def plain_url(url: str, scheme: str) -> str:
    """A test database's URL as a hosting provider writes it (`postgres://…`, `sqlite:///…`)."""
    return scheme + "://" + url.split("://", 1)[1]


# --- 1. database URLs ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "used"),
    [
        ("postgres://u:p@db.example:5432/logs", "postgresql+asyncpg://u:p@db.example:5432/logs"),
        ("postgresql://u@db.example/logs", "postgresql+asyncpg://u@db.example/logs"),
        ("postgresql+asyncpg://u@db.example/logs", "postgresql+asyncpg://u@db.example/logs"),
        (
            "postgres://u@db.example/logs?sslmode=require",
            "postgresql+asyncpg://u@db.example/logs?ssl=require",
        ),
        ("sqlite:///./logs.db", "sqlite+aiosqlite:///./logs.db"),
        ("sqlite+aiosqlite:///./logs.db", "sqlite+aiosqlite:///./logs.db"),
    ],
)
def test_plain_database_urls_run_on_the_installed_drivers(given: str, used: str) -> None:
    assert Settings.from_env({"DATABASE_URL": given}).database_url == used
    assert Settings(database_url=given, database_read_url=given).database_read_url == used


@pytest.mark.backends("postgresql")
def test_a_postgres_url_as_providers_write_it_works_for_every_command(
    backend: str, database_url: str, cli: Any, factory: Factory
) -> None:
    project = factory.project("Hosted")
    for scheme in ("postgres", "postgresql"):
        code, out, err = cli("--database-url", plain_url(database_url, scheme), "projects", "--json")
        assert (code, err) == (0, "")
        assert json.loads(out) == [{"id": project, "name": "Hosted"}]


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("mysql://root:hunter2@db/logs", "a mysql:// URL"),
        ("postgresql+psycopg://root:hunter2@db/logs", "a postgresql+psycopg:// URL"),
        ("sqlite+pysqlite:///logs.db", "a sqlite+pysqlite:// URL"),
        ("logs.db", "a value that is not a URL"),
    ],
)
def test_a_database_url_the_server_cannot_use_is_one_line_naming_the_accepted_forms(
    cli: Any, monkeypatch: pytest.MonkeyPatch, url: str, shown: str
) -> None:
    expected = f"DATABASE_URL: cannot use {shown}; {ACCEPTED}"
    monkeypatch.setenv("DATABASE_URL", url)

    for command in (["serve"], ["projects"], ["db", "upgrade"]):
        assert one_error_line(cli(*command)) == expected
    monkeypatch.delenv("DATABASE_URL")
    line = one_error_line(cli("--database-url", url, "seed", "--demo"))
    assert line == expected and "hunter2" not in line


# --- 2. a database that was never migrated ---------------------------------------------------------------


def test_commands_on_a_missing_sqlite_file_say_to_run_db_upgrade_and_create_no_file(
    cli: Any, tmp_path: Path
) -> None:
    path = tmp_path / "graphql_api.db"
    url = f"sqlite:///{path}"
    logs = tmp_path / "logs.jsonl"
    logs.write_text("", encoding="utf-8")
    project = str(uuid.UUID(int=1))
    expected = f"there is no database at {path}: run `graphql-api db upgrade` to create it"

    for command in (
        ["projects"],
        ["seed", "--demo"],
        ["api-key", "list", "--project-id", project],
        ["api-key", "create", "--project-id", project, "--permission", "ReadWhatsAppLog"],
        ["api-key", "revoke", project],
        ["import", str(logs), "--project-id", project, "--create-project"],
        ["serve"],
    ):
        assert one_error_line(cli("--database-url", url, *command)) == expected, command
    assert sorted(p.name for p in tmp_path.iterdir()) == ["logs.jsonl"]


def test_commands_on_a_database_without_tables_say_to_run_db_upgrade(
    backend: str, cli: Any, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    url = empty_database_url(backend, tmp_path, request)
    if backend == "sqlite":
        Path(make_url(url).database or "").touch()  # an empty file, as an old version left behind
    where = str(tmp_path / "database.db") if backend == "sqlite" else plain_url(url, "postgresql")
    expected = f"the database at {where} has no tables: run `graphql-api db upgrade`"

    for command in (["projects"], ["seed", "--demo"], ["serve"]):
        assert one_error_line(cli("--database-url", url, *command)) == expected, command
    assert cli("--database-url", url, "db", "upgrade")[0] == 0
    assert cli("--database-url", url, "projects") == (0, "", "")


# --- 3. seed twice -----------------------------------------------------------------------------------


def test_seeding_a_database_that_has_projects_is_refused_and_changes_nothing(
    backend: str, database_url: str, cli: Any, factory: Factory
) -> None:
    seed = ["--database-url", database_url, "seed", "--demo", "--projects", "2", "--logs", "20"]
    assert cli(*seed)[0] == 0
    before = cli("--database-url", database_url, "projects", "--json")[1]

    line = one_error_line(cli(*seed))

    assert line.endswith(
        "already has 2 project(s): seed fills an empty database only (use a new DATABASE_URL to start over)"
    )
    assert line.startswith("the database at ")
    assert cli("--database-url", database_url, "projects", "--json")[1] == before


# --- 4. api-key, seed --help, import ----------------------------------------------------------------


def test_api_key_create_help_lists_every_permission(cli: Any) -> None:
    code, out, _ = cli("api-key", "create", "--help")

    assert code == 0
    text = " ".join(out.split())  # argparse wraps the help
    for permission in PERMISSIONS:
        assert permission in text
    assert "Reading logs needs one of ProjectAdmin, ProjectMember, ProjectOwner," in text


def test_seed_help_shows_the_defaults(cli: Any) -> None:
    code, out, _ = cli("seed", "--help")

    text = " ".join(out.split())
    assert code == 0
    assert "how many projects (default: 3)" in text
    assert "total over all projects (default: 5000)" in text
    assert "(default: 1)" in text
    assert "(default: the current time)" in text


def test_an_expiry_in_the_past_is_refused(
    backend: str, database_url: str, cli: Any, factory: Factory
) -> None:
    project = factory.project()

    line = one_error_line(
        cli("--database-url", database_url, "api-key", "create", "--project-id", project,
            "--permission", "ReadWhatsAppLog", "--expires-at", "2020-01-01T00:00:00")
    )  # fmt: skip

    assert line == "--expires-at 2020-01-01T00:00:00+00:00 is in the past: the key would never work"
    assert (
        json.loads(cli("--database-url", database_url, "api-key", "list", "--project-id", project)[1]) == []
    )


def _create_key(cli: Any, database_url: str, project: str) -> dict[str, str]:
    code, out, err = cli("--database-url", database_url, "api-key", "create", "--project-id", project,
                         "--permission", "ReadWhatsAppLog")  # fmt: skip
    assert code == 0, err
    return dict(line.split(": ", 1) for line in out.splitlines()[:2])


def test_a_key_is_revoked_by_the_prefix_or_the_start_of_the_id_that_list_prints(
    backend: str, database_url: str, cli: Any, factory: Factory
) -> None:
    project = factory.project()
    first, second = _create_key(cli, database_url, project), _create_key(cli, database_url, project)
    listed = json.loads(cli("--database-url", database_url, "api-key", "list", "--project-id", project)[1])
    assert [(k["id"], k["prefix"]) for k in listed] == [(k["id"], k["prefix"]) for k in (first, second)]

    by_prefix = cli("--database-url", database_url, "api-key", "revoke", first["prefix"])
    by_id_start = cli("--database-url", database_url, "api-key", "revoke", second["id"][:8])

    assert by_prefix == (0, f"revoked {first['id']} ({first['prefix']}, 'API key')\n", "")
    assert by_id_start == (0, f"revoked {second['id']} ({second['prefix']}, 'API key')\n", "")
    again = one_error_line(cli("--database-url", database_url, "api-key", "revoke", first["prefix"]))
    assert again.startswith(f"the key {first['id']} ({first['prefix']}) was revoked already, at ")


def test_an_ambiguous_or_unknown_key_reference_is_refused(
    backend: str, database_url: str, cli: Any, factory: Factory, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = factory.project()
    ids = iter(["abcd1111-0000-4000-8000-000000000001", "abcd2222-0000-4000-8000-000000000002"])
    monkeypatch.setattr("graphql_api.data.writes.new_id", lambda: next(ids))
    _create_key(cli, database_url, project)
    _create_key(cli, database_url, project)

    def revoke(reference: str) -> str:
        return one_error_line(cli("--database-url", database_url, "api-key", "revoke", reference))

    assert revoke("abcd") == (
        "'abcd' matches 2 keys (abcd1111-0000-4000-8000-000000000001, abcd2222-0000-4000-8000-000000000002): "
        "give more of it, or the full id"
    )
    assert revoke("abc") == "'abc' is too short: give the key's id or its prefix, as `api-key list` prints"
    assert revoke("wal_zzzzzzzz") == (
        "no key with id or prefix 'wal_zzzzzzzz' (`graphql-api api-key list` shows them)"
    )
    listed = json.loads(cli("--database-url", database_url, "api-key", "list", "--project-id", project)[1])
    assert [key["revokedAt"] for key in listed] == [None, None]


# --- 5. serve --demo ---------------------------------------------------------------------------------


def _demo_start(url: str, directory: Path) -> list[str]:
    """`graphql-api serve --demo` up to the lines it prints before serving; the server is then stopped."""
    from tests.live import free_port

    env = {**os.environ, "DATABASE_URL": url, "LOG_LEVEL": "warning"}
    process = subprocess.Popen(
        [sys.executable, "-m", "graphql_api", "serve", "--demo", "--port", str(free_port())],
        cwd=directory, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True,
    )  # fmt: skip
    assert process.stdout is not None
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line.rstrip("\n"))
            if line.startswith("Headers for GraphiQL: "):
                break
    finally:
        process.terminate()
        process.wait(timeout=60)
    assert lines and lines[-1].startswith("Headers for GraphiQL: "), lines
    return lines


def _printed(lines: list[str], label: str) -> str:
    return next(line.removeprefix(label) for line in lines if line.startswith(label))


@pytest.fixture
def demo_database(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[str]:
    yield empty_database_url(backend, tmp_path, request)


def test_serve_demo_names_the_project_of_its_key_and_keeps_the_key_across_restarts(
    backend: str, demo_database: str, tmp_path: Path
) -> None:
    first = _demo_start(demo_database, tmp_path)
    second = _demo_start(demo_database, tmp_path)

    secret = _printed(first, "Demo API key: ")
    project = _printed(first, "Demo project: ")
    assert _printed(second, "Demo project: ") == project
    with TestClient(create_app(suite_settings(demo_database))) as client:
        gql = GraphQL(client)
        owner = gql.data("{ whatsAppLogs(limit: 1) { project { id name } } }", key=secret)
        assert project == "{name} (id {id})".format(**owner["whatsAppLogs"][0]["project"])
        if backend == "sqlite":
            assert _printed(second, "Demo API key: ") == secret
            assert first[2] == (
                "  a new key, kept in database.db.demo-key for the next start on this database "
                "(in a shell: KEY=$(cat database.db.demo-key))"
            )
            assert second[2].startswith("  the key of the last start, kept in database.db.demo-key")
            assert (tmp_path / "database.db.demo-key").read_text(encoding="utf-8") == secret + "\n"
            assert (tmp_path / "database.db.demo-key").stat().st_mode & 0o077 == 0
        else:  # no file to keep it in: a new key, and the old one still works
            assert _printed(second, "Demo API key: ") != secret
            assert second[2] == (
                "  a new key at each start on this database; those printed before keep working until revoked"
            )
            assert gql.data("{ whatsAppLogCount }", key=_printed(second, "Demo API key: "))
        assert gql.data("{ whatsAppLogCount }", key=secret)["whatsAppLogCount"] > 0


@pytest.mark.backends("sqlite")
def test_serve_demo_replaces_a_kept_key_that_was_revoked(
    backend: str, demo_database: str, tmp_path: Path, cli: Any
) -> None:
    secret = _printed(_demo_start(demo_database, tmp_path), "Demo API key: ")
    assert cli("--database-url", demo_database, "api-key", "revoke", secret[:12])[0] == 0

    restarted = _demo_start(demo_database, tmp_path)

    assert _printed(restarted, "Demo API key: ") != secret
    assert restarted[2].startswith("  a new key, kept in database.db.demo-key")


# --- 6. the demo data ends now -----------------------------------------------------------------------


def test_demo_data_ends_at_the_moment_it_is_seeded(
    backend: str, database_url: str, cli: Any, factory: Factory
) -> None:
    before = datetime.now(UTC)
    code, out, err = cli("--database-url", database_url, "seed", "--demo", "--projects", "1", "--logs", "400")
    after = datetime.now(UTC)
    assert code == 0, err
    [project] = json.loads(out)["projects"]

    week = {"createdAt": {"gte": (before - timedelta(days=7)).isoformat()}}
    with TestClient(create_app(suite_settings(database_url))) as client:
        data = GraphQL(client, factory.api_key(project["id"])).data(
            """query ($week: WhatsAppLogFilter) {
                 newest: whatsAppLogs(limit: 1) { createdAt }
                 lastUpdated: whatsAppLogs(limit: 1, orderBy: [{ updatedAt: DESC }]) { updatedAt }
                 lastWeek: whatsAppLogCount(where: $week)
               }""",
            {"week": week},
        )
    newest = datetime.fromisoformat(data["newest"][0]["createdAt"])
    assert before - timedelta(days=2) < newest <= after
    assert datetime.fromisoformat(data["lastUpdated"][0]["updatedAt"]) <= after
    assert data["lastWeek"] > 0


@pytest.mark.parametrize("value", ["50000,20", "many,20,100", "-1,10,10"])
def test_gc_thresholds_the_server_cannot_use_are_one_line_before_it_starts(
    cli: Any, monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("GC_THRESHOLDS", value)
    line = one_error_line(cli("serve"))
    assert line.startswith("GC_THRESHOLDS: ") and repr(value) in line


def test_each_server_worker_tunes_its_garbage_collector_as_gc_thresholds_says(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'graphql_api.db'}")
    before = gc.get_threshold()
    try:
        monkeypatch.setenv("GC_THRESHOLDS", "40000,15,90")
        app_from_env()  # what `serve` hands uvicorn: each worker runs it
        assert gc.get_threshold() == (40000, 15, 90)
        assert gc.get_freeze_count() > 0
        gc.unfreeze()
        gc.set_threshold(*before)
        monkeypatch.setenv("GC_THRESHOLDS", "")
        app_from_env()
        assert gc.get_threshold() == before and gc.get_freeze_count() == 0
    finally:
        gc.unfreeze()
        gc.set_threshold(*before)
