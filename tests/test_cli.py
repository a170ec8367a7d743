"""The `graphql-api` command driven as a user drives it: `python -m graphql_api …`, on each backend."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from graphql_api.data.fields import FIELDS, RELATIONS
from graphql_api.http.app import create_app
from tests.conftest import GraphQL, backend_params, empty_database_url
from tests.factories import Factory
from tests.suite import suite_settings

SEED = ["seed", "--demo", "--projects", "3", "--logs", "60", "--now", "2026-11-01T00:00:00Z"]
LINKS = list(RELATIONS)
FIRST_PAGE = f"{{ whatsAppLogs(limit: 20) {{ {' '.join(FIELDS)} }} whatsAppLogCount }}"


@dataclass
class Database:
    url: str
    directory: Path  # where the commands run
    seed_output: str = ""
    projects_output: str = ""

    @property
    def projects(self) -> list[dict[str, str]]:
        """Its `projects --json`, as printed right after seeding."""
        result: list[dict[str, str]] = json.loads(self.projects_output)
        return result


def start(database: Database, *args: str) -> subprocess.Popen[str]:
    env = {**os.environ, "DATABASE_URL": database.url}
    return subprocess.Popen(
        [sys.executable, "-m", "graphql_api", *args],
        cwd=database.directory,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run(database: Database, *args: str) -> subprocess.CompletedProcess[str]:
    """Run one command to its end; the caller checks the exit code."""
    process = start(database, *args)
    stdout, stderr = process.communicate(timeout=120)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)


def ok(database: Database, *args: str) -> str:
    """The stdout of a command that must succeed."""
    result = run(database, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def run_all(commands: Sequence[tuple[Database, list[str]]]) -> list[str]:
    """Run commands side by side (on separate databases), all of which must succeed; their stdouts."""
    processes = [start(database, *args) for database, args in commands]
    outputs = []
    for process in processes:
        stdout, stderr = process.communicate(timeout=120)
        assert process.returncode == 0, stderr
        outputs.append(stdout)
    return outputs


@contextmanager
def graphql(database: Database) -> Iterator[GraphQL]:
    """The app over HTTP on `database`, with no key cache so that a revoked key fails at once."""
    with TestClient(create_app(suite_settings(database.url))) as client:
        yield GraphQL(client)


def new_database(backend: str, directory: Path, request: pytest.FixtureRequest) -> Database:
    return Database(empty_database_url(backend, directory, request), directory)


@pytest.fixture(scope="module", params=backend_params())
def seeded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Database]:
    """Three databases migrated and seeded by the CLI: seed 7 twice and seed 8 once."""
    databases = {
        name: new_database(request.param, tmp_path_factory.mktemp(name), request)
        for name in ("a", "a_again", "b")
    }
    seeds = {"a": "7", "a_again": "7", "b": "8"}
    run_all([(db, ["db", "upgrade"]) for db in databases.values()])
    outputs = run_all([(db, [*SEED, "--seed", seeds[name]]) for name, db in databases.items()])
    listed = run_all([(db, ["projects", "--json"]) for db in databases.values()])
    for database, output, projects in zip(databases.values(), outputs, listed, strict=True):
        database.seed_output, database.projects_output = output, projects
    return databases


def test_db_upgrade_creates_the_schema_in_an_empty_database(
    backend: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    database = new_database(backend, tmp_path, request)

    result = run(database, "db", "upgrade")

    assert result.returncode == 0, result.stderr
    assert result.stdout == ""  # logs go to stderr
    factory = Factory(database.url)
    key = factory.api_key(factory.project())
    with graphql(database) as gql:
        assert gql.data("{ whatsAppLogs { id } whatsAppLogCount }", key=key) == {
            "whatsAppLogs": [],
            "whatsAppLogCount": 0,
        }


def test_seed_prints_what_it_made(seeded: dict[str, Database]) -> None:
    summary = json.loads(seeded["a"].seed_output)

    assert summary["logs"] == 60
    assert sorted(summary["projects"], key=str) == sorted(seeded["a"].projects, key=str)


def test_projects_json_is_an_array_of_ids_and_names(seeded: dict[str, Database]) -> None:
    listed = seeded["a"].projects

    assert len(listed) == 3
    for project in listed:
        assert set(project) == {"id", "name"}
        assert str(uuid.UUID(project["id"])) == project["id"]
        assert isinstance(project["name"], str) and project["name"]


def _first_pages(database: Database) -> list[Any]:
    factory = Factory(database.url)
    with graphql(database) as gql:
        return [gql.data(FIRST_PAGE, key=factory.api_key(p["id"])) for p in database.projects]


def test_the_same_seed_gives_the_same_data(seeded: dict[str, Database]) -> None:
    assert seeded["a"].projects_output == seeded["a_again"].projects_output
    assert _first_pages(seeded["a"]) == _first_pages(seeded["a_again"])


def test_another_seed_gives_other_data(seeded: dict[str, Database]) -> None:
    assert {p["id"] for p in seeded["a"].projects}.isdisjoint(p["id"] for p in seeded["b"].projects)
    assert _first_pages(seeded["a"]) != _first_pages(seeded["b"])


def test_every_project_gets_logs_linked_only_to_its_own_records(seeded: dict[str, Database]) -> None:
    database = seeded["a"]
    factory = Factory(database.url)
    selection = " ".join(f"{link}Id {link} {{ id }}" for link in LINKS)
    linked = dict.fromkeys(LINKS, 0)
    total = 0
    with graphql(database) as gql:
        for project in database.projects:
            gql.key = factory.api_key(project["id"])
            data = gql.data(f"{{ whatsAppLogs(limit: 100) {{ projectId {selection} }} whatsAppLogCount }}")
            assert data["whatsAppLogCount"] > 0, project
            total += data["whatsAppLogCount"]
            for log in data["whatsAppLogs"]:
                assert log["projectId"] == project["id"]
                for link in LINKS:
                    # A link to another project's record would show its id but resolve to null.
                    expected = None if log[f"{link}Id"] is None else {"id": log[f"{link}Id"]}
                    assert log[link] == expected, (project, link)
                    linked[link] += expected is not None
    assert [link for link, count in linked.items() if count == 0] == []  # the demo links every relation
    assert total <= 60  # a few demo logs are soft-deleted


def test_an_api_key_from_the_cli_works_until_revoked(seeded: dict[str, Database]) -> None:
    database = seeded["b"]
    project = database.projects[0]["id"]

    created = ok(database, "api-key", "create", "--project-id", project, "--permission", "ReadWhatsAppLog",
                 "--name", "reporting")  # fmt: skip
    secret = created.splitlines()[-1]
    key_id = next(line.split(": ", 1)[1] for line in created.splitlines() if line.startswith("id: "))
    listed = ok(database, "api-key", "list", "--project-id", project)

    assert secret.startswith("wal_") and secret == secret.strip() and " " not in secret
    assert secret not in listed
    [mine] = [key for key in json.loads(listed) if key["id"] == key_id]
    assert (mine["name"], mine["permissions"], mine["revokedAt"]) == ("reporting", ["ReadWhatsAppLog"], None)
    with graphql(database) as gql:
        assert gql.data("{ whatsAppLogCount }", key=secret)["whatsAppLogCount"] > 0
        ok(database, "api-key", "revoke", key_id)
        refused = gql("{ whatsAppLogCount }", key=secret)
    assert refused["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--permission", "ReadEverything"], "unknown permission 'ReadEverything'"),
        (["--permission", "ReadWhatsAppLog", "--project-id", str(uuid.UUID(int=1))], "no project with id"),
    ],
    ids=["unknown permission", "unknown project"],
)
def test_a_bad_api_key_request_fails_with_one_line_on_stderr(
    seeded: dict[str, Database], args: list[str], message: str
) -> None:
    database = seeded["b"]
    if "--project-id" not in args:
        args = [*args, "--project-id", database.projects[0]["id"]]

    result = run(database, "api-key", "create", *args)

    assert result.returncode != 0
    assert result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ") and message in line


def test_revoking_an_unknown_key_fails_with_one_line_on_stderr(seeded: dict[str, Database]) -> None:
    result = run(seeded["b"], "api-key", "revoke", str(uuid.UUID(int=2)))

    assert result.returncode != 0
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("error: ")


def test_export_schema_writes_to_a_file_what_it_prints(
    tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    output = tmp_path / "schema.graphql"
    unused = new_database("sqlite", tmp_path, request)

    printed, written = run_all(
        [(unused, ["export-schema"]), (unused, ["export-schema", "--output", str(output)])]
    )

    assert written == ""
    assert output.read_text(encoding="utf-8") == printed
    assert "type Query {" in printed and "whatsAppLogs(" in printed
