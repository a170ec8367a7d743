"""The same behaviour on SQLite and PostgreSQL: text matching, read-only serving, a read replica URL,
several server processes, and identical answers to the same queries over the same data."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import time
import urllib.request
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import exc as sa_exc
from sqlalchemy import insert
from starlette.testclient import TestClient

from graphql_api import cli
from graphql_api.data import models
from graphql_api.data.database import Database
from graphql_api.data.fields import FIELDS, PROJECT, RELATIONS, SORTABLE
from graphql_api.http.app import create_app
from graphql_api.settings import Settings
from tests.conftest import GraphQL
from tests.factories import Factory
from tests.live import free_port, stop
from tests.suite import SUITE_ENV, suite_settings

TEXTS = {
    "percent": "Disk 100% full",
    "no percent": "Disk 100 full",
    "underscore": "user_name changed",
    "no underscore": "username changed",
    "french upper": "ÉCOLE fermée",
    "french lower": "école ouverte",
    "greek": "ΟΔΟΣ κλειστός",
    "turkish": "İstanbul office",
    "german ss": "STRASSE gesperrt",
    "german sharp s": "Straße gesperrt",
    "cyrillic": "ЖЁЛТЫЙ alert",
}
# (operator, operand) -> the logs it matches; every operator ignores case and takes % and _ literally.
MATCHES = {
    ("contains", "0%"): ["percent"],
    ("contains", "%"): ["percent"],
    ("contains", "_"): ["underscore"],
    ("contains", "r_n"): ["underscore"],
    ("contains", "ÉCOLE"): ["french lower", "french upper"],
    ("startsWith", "éc"): ["french lower", "french upper"],
    ("endsWith", "FERMÉE"): ["french upper"],
    ("contains", "οδοσ"): ["greek"],
    # Letters fold one at a time: a final sigma is its own letter, 'ß' is not 'ss'.
    ("endsWith", "ς"): ["greek"],
    ("contains", "οδος"): [],
    ("startsWith", "istanbul"): ["turkish"],
    ("contains", "ß"): ["german sharp s"],
    ("contains", "ss"): ["german ss"],
    ("contains", "жёлтый"): ["cyrillic"],
    ("endsWith", "ALERT"): ["cyrillic"],
}


def test_contains_starts_with_and_ends_with_ignore_case_in_every_alphabet(
    gql: GraphQL, factory: Factory
) -> None:
    project = factory.project()
    for text in TEXTS.values():
        factory.log(project, message_text=text)
    gql.key = factory.api_key(project)
    label = {text: name for name, text in TEXTS.items()}

    found = {}
    for op, operand in MATCHES:
        logs = gql.data(
            "query($where: WhatsAppLogFilter) { whatsAppLogs(where: $where, limit: 100) { messageText } }",
            {"where": {"messageText": {op: operand}}},
        )["whatsAppLogs"]
        found[(op, operand)] = sorted(label[log["messageText"]] for log in logs)

    assert found == MATCHES


def test_the_servers_connections_refuse_to_write(settings: Settings, factory: Factory) -> None:
    project = factory.project("Only one")

    async def write_through_a_request_connection() -> None:
        database = Database(settings)
        try:
            async with database.reader() as conn:
                await conn.execute(
                    insert(models.Project).values(
                        id=models.new_id(), name="Sneaky", created_at=models.utcnow()
                    )
                )
        finally:
            await database.dispose()

    with pytest.raises(sa_exc.DBAPIError, match="(?i)read-only|readonly"):
        asyncio.run(write_through_a_request_connection())
    assert [p["id"] for p in factory.run(_projects)] == [project]


async def _projects(conn: Any) -> list[dict[str, str]]:
    from graphql_api.data import queries

    return [{"id": row.id, "name": row.name} for row in await queries.list_projects(conn)]


def _unreachable(backend: str, tmp_path: Path) -> str:
    if backend == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path}/no/such/dir/primary.db"
    return f"postgresql+asyncpg://postgres@127.0.0.1:{free_port()}/postgres"


def test_requests_read_from_database_read_url_and_the_cli_writes_to_database_url(
    backend: str,
    settings: Settings,
    factory: Factory,
    database_url: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    project = factory.project()
    factory.log(project, status="Read")
    elsewhere = _unreachable(backend, tmp_path)

    # The CLI ignores DATABASE_READ_URL: its key lands in DATABASE_URL.
    monkeypatch.setenv("DATABASE_READ_URL", elsewhere)
    command = ["--database-url", database_url, "api-key", "create", "--project-id", project,
               "--permission", "ReadWhatsAppLog"]  # fmt: skip
    assert cli.main(command) == 0
    key = capsys.readouterr().out.strip().splitlines()[-1]

    # The server reads from DATABASE_READ_URL only: its primary is unreachable.
    app = create_app(settings.with_(database_url=elsewhere, database_read_url=database_url))
    with TestClient(app) as client:
        gql = GraphQL(client, key)
        assert gql.data("{ whatsAppLogs { status } }") == {"whatsAppLogs": [{"status": "Read"}]}
        assert client.get("/readyz").status_code == 200


def test_serve_with_workers_runs_that_many_processes_on_one_database(
    database_url: str, factory: Factory, tmp_path: Path
) -> None:
    project = factory.project()
    factory.log(project, status="Delivered")
    key = factory.api_key(project)
    port = free_port()
    log = tmp_path / "serve.log"
    env = {**os.environ, **SUITE_ENV, "DATABASE_URL": database_url, "LOG_LEVEL": "info"}
    command = [sys.executable, "-m", "graphql_api", "serve", "--port", str(port), "--workers", "2"]
    with log.open("wb") as output:
        process = subprocess.Popen(command, env=env, stdout=output, stderr=subprocess.STDOUT)
    try:
        assert len(_wait_for_workers(log, process, count=2)) == 2
        for _ in range(10):
            request = urllib.request.Request(
                f"http://127.0.0.1:{port}/graphql",
                data=b'{"query": "{ whatsAppLogCount }"}',
                headers={"ApiKey": key, "Content-Type": "application/json"},
            )
            with urllib.request.urlopen(request, timeout=10) as response:
                assert response.read() == b'{"data":{"whatsAppLogCount":1}}'
    finally:
        stop(process, timeout=15)


def _wait_for_workers(log: Path, process: subprocess.Popen[bytes], *, count: int) -> set[str]:
    """The pids of the worker processes uvicorn started, once `count` of them are ready."""
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}:\n{log.read_text()}")
        output = log.read_text(errors="replace")
        if output.count("Application startup complete") >= count:
            return set(re.findall(r"Started server process \[(\d+)\]", output))
        time.sleep(0.1)
    raise AssertionError(f"{count} workers did not start:\n{log.read_text()}")


LOG_FIELDS = " ".join(FIELDS)
RELATED = " ".join(
    f"{r.name} {{ id {r.label}{' createdAt' if r.shows_created_at else ''} }}"
    for r in (PROJECT, *RELATIONS.values())
)
PAGE = f"""query(
  $where: WhatsAppLogFilter, $orderBy: [WhatsAppLogOrderBy!], $skip: Int! = 0, $limit: Int! = 100
) {{
  whatsAppLogs(where: $where, orderBy: $orderBy, skip: $skip, limit: $limit) {{ {LOG_FIELDS} {RELATED} }}
  whatsAppLogCount(where: $where)
}}"""
FILTERS: list[dict[str, Any] | None] = [
    None,
    {"status": {"in": ["Failed", "Error"]}},
    {"status": {"notIn": ["Delivered", "Read"]}, "fromNumber": {"isNull": False}},
    {"fromNumber": {"isNull": True}},
    {"fromNumber": {"ne": "+1-555-100-1000"}},
    {"messageText": {"contains": "LATENCY"}},
    {"messageText": {"startsWith": "Incident"}},
    {"messageText": {"endsWith": "E"}},
    {"messageText": {"contains": "%"}},
    {"messageText": {"contains": "_"}},
    {"messageText": {"contains": "ÉCOLE"}},
    {"messageText": {"endsWith": "οδοσ"}},
    {"statusMessage": {"contains": "meta api"}},
    {"not": {"messageText": {"contains": "error"}}},
    {"or": [{"whatsAppCostInUSDCents": {"gte": 5}}, {"status": {"eq": "Queued"}}]},
    {
        "and": [
            {"createdAt": {"gte": "2026-09-01T00:00:00Z"}},
            {"createdAt": {"lt": "2026-10-01T00:00:00+02:00"}},
        ]
    },
    {"incidentId": {"isNull": False}, "not": {"teamId": {"isNull": True}}},
    {"whatsAppMessageId": {"startsWith": "WAMID.F"}},
]
ORDERS: list[list[dict[str, str]] | None] = [
    None,
    [{"status": "ASC"}, {"createdAt": "DESC"}],
    [{"fromNumber": "ASC"}],
    [{"fromNumber": "DESC"}, {"toNumber": "ASC"}],
    [{"whatsAppCostInUSDCents": "DESC"}],
    [{"updatedAt": "ASC"}],
    [{"toNumber": "DESC"}],
    # Every sort key both ways: where nulls go, and how text and dates compare, differ between backends.
    *([{name: direction}] for name in SORTABLE for direction in ("ASC", "DESC")),
]
ODD_TEXTS = [
    "Disk 100% full",
    "user_name changed",
    "ÉCOLE fermée",
    "école ouverte",
    "ΟΔΟΣ",
    "Straße",
    "ЖЁЛТЫЙ",
]


@pytest.fixture
def both_backends(
    tmp_path: Path, migrated_sqlite: Path, migrated_postgres: tuple[str, Any]
) -> dict[str, str]:
    """An empty migrated database on each backend (skipped without TEST_DATABASE_URL)."""
    import shutil

    path = tmp_path / "parity.db"
    shutil.copyfile(migrated_sqlite, path)
    url, cleaner = migrated_postgres
    cleaner.clean()
    return {"sqlite": f"sqlite+aiosqlite:///{path}", "postgresql": url}


# The demo data ends here, as the filters above expect (the demo's default is the current time).
SEED_NOW = datetime(2026, 11, 1, tzinfo=UTC)


def _answers(database_url: str) -> dict[str, Any]:
    """Seed the demo data and a few odd texts, then run every query: the JSON answers, in order."""
    from graphql_api.cli.seed import Plan, seed_demo

    factory = Factory(database_url)
    summary = factory.run(lambda conn: seed_demo(conn, Plan(projects=2, logs=400, seed=7, now=SEED_NOW)))
    project = summary.projects[0]["id"]
    for i, text in enumerate(ODD_TEXTS):
        factory.log(project, id=f"00000000-0000-4000-8000-{i:012d}", message_text=text)
    key = factory.api_key(project)

    answers: dict[str, Any] = {}
    with TestClient(create_app(suite_settings(database_url))) as client:
        gql = GraphQL(client, key)
        for where in FILTERS:
            answers[f"where {where}"] = gql(PAGE, {"where": where})
        for order in ORDERS:
            answers[f"orderBy {order}"] = gql(PAGE, {"orderBy": order, "skip": 150})
            answers[f"orderBy {order}, filtered"] = gql(PAGE, {"orderBy": order, "where": FILTERS[2]})
        first = answers["where None"]["data"]["whatsAppLogs"][0]["id"]
        answers["one log"] = gql(f'{{ whatsAppLog(id: "{first}") {{ {LOG_FIELDS} {RELATED} }} }}')
        answers["stats"] = gql("{ whatsAppLogStats(groupBy: [STATUS, MONTH]) { status month count } }")
    return answers


def test_the_same_data_and_queries_give_the_same_answers_on_sqlite_and_postgresql(
    both_backends: dict[str, str],
) -> None:
    sqlite, postgresql = (_answers(both_backends[name]) for name in ("sqlite", "postgresql"))

    assert [name for name, answer in sqlite.items() if "errors" in answer] == []
    # the odd texts are found, and most filters find logs
    assert sqlite["where {'messageText': {'contains': '%'}}"]["data"]["whatsAppLogCount"] == 1
    assert sqlite["where {'messageText': {'contains': 'ÉCOLE'}}"]["data"]["whatsAppLogCount"] == 2
    assert sum(1 for answer in sqlite.values() if answer["data"].get("whatsAppLogs")) > 25
    for name in sqlite:
        assert sqlite[name] == postgresql[name], name
