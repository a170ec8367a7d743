"""`graphql-api import FILE.jsonl --project-id ID`: JSON lines in the REST shape, all or nothing."""

from __future__ import annotations

import io
import json
import logging
import shutil
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from starlette.testclient import TestClient

from graphql_api.cli.commands import main
from graphql_api.data.fields import FIELDS, PROJECT, RELATIONS
from graphql_api.http.app import create_app
from tests.factories import Factory, unnamed_values
from tests.rest_client import Rest
from tests.suite import suite_settings

# Every field, and every relation with all its columns: what a full export asks for.
EVERYTHING: dict[str, Any] = {
    **{f.rest_name: True for f in FIELDS.values()},
    **{
        name: {"_id": True, r.label: True, "createdAt": True}
        for name, r in {**RELATIONS, "project": PROJECT}.items()
    },
}
INCIDENT = "6f1c2b9a-3d4e-4f50-8a61-7b8c9d0e1f20"
LOG_ID = "0a0b0c0d-0e0f-4a1b-8c2d-3e4f5a6b7c8d"


@pytest.fixture
def source(tmp_path: Path, migrated_sqlite: Path) -> Iterator[tuple[Factory, Rest]]:
    """Another database with its own server: where the logs are exported from."""
    path = tmp_path / "source.db"
    shutil.copyfile(migrated_sqlite, path)
    url = f"sqlite+aiosqlite:///{path}"
    with TestClient(create_app(suite_settings(url))) as client:
        yield Factory(url), Rest(client)


@pytest.fixture
def run(database_url: str, capsys: pytest.CaptureFixture[str]) -> Any:
    """Runs `graphql-api <args>` on the test database: (exit code, stdout, stderr)."""

    def run(*args: str) -> Any:
        # The CLI configures logging for a process of its own: give pytest's handlers back afterwards.
        root = logging.getLogger()
        handlers, level = root.handlers[:], root.level
        try:
            code = main(["--database-url", database_url, *args])
        finally:
            root.handlers[:] = handlers
            root.setLevel(level)
        out, err = capsys.readouterr()
        return code, out, err

    return run


def write_lines(path: Path, objects: list[Any]) -> str:
    path.write_text("".join(json.dumps(o) + "\n" for o in objects), encoding="utf-8")
    return str(path)


def a_log(**fields: Any) -> dict[str, Any]:
    return {"toNumber": "+1-555-123-4567", "status": "Sent", "whatsAppCostInUSDCents": 100, **fields}


def pages(rest: Rest, body: dict[str, Any], limit: int = 10) -> list[dict[str, Any]]:
    """Every page of get-list, as responses."""
    results = []
    skip = 0
    while True:
        page = rest.ok("POST", f"get-list?skip={skip}&limit={limit}", body)
        results.append(page)
        skip += limit
        if skip >= page["count"]:
            return results


def test_an_export_through_get_list_imports_into_an_empty_database_as_the_same_list(
    source: tuple[Factory, Rest], rest: Rest, factory: Factory, run: Any, tmp_path: Path
) -> None:
    src, src_rest = source
    project = src.project("Acme Production")
    incident = src.related("incident", project, "Checkout is down")
    monitor = src.related("monitor", project, "API Gateway")
    user = src.related("user", None, "Ana Silva")
    team = src.related("team", project, "SRE")
    src.logs(project, 12, status="Delivered", incident_id=incident, monitor_id=monitor, message_text="Down!")
    src.logs(
        project, 9, status="Failed", user_id=user, team_id=team, from_number=None, status_message="131026"
    )
    # One log linked to every other relation, with a value in every field.
    rest_of_links = {
        r.fk_column.key: src.related(name, project if r.project_scoped else None)
        for name, r in RELATIONS.items()
        if name not in ("incident", "monitor", "user", "team")
    }
    named = {
        "whatsapp_message_id": "wamid.1",
        "message_text": "emoji 🚨 and ünïcödé",
        "whatsapp_cost_in_usd_cents": 7,
        **rest_of_links,
    }
    src.log(project, **named, **unnamed_values(1, named, nulls=False))
    src_rest.key = src.api_key(project)
    body = {"select": EVERYTHING, "sort": {"createdAt": "ASC"}}
    exported = pages(src_rest, body)
    path = write_lines(tmp_path / "logs.jsonl", [item for page in exported for item in page["data"]])

    code, out, err = run("import", path, "--project-id", project, "--create-project")

    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "lines": 22,
        "created": 22,
        "updated": 0,
        "stillDeleted": 0,
        "placeholders": {"project": 1, **dict.fromkeys(RELATIONS, 1)},
    }
    rest.key = factory.api_key(project)
    assert pages(rest, body) == exported


def test_reimporting_a_log_with_an_existing_id_updates_it(
    rest: Rest, factory: Factory, run: Any, tmp_path: Path
) -> None:
    project = factory.project()
    rest.key = factory.api_key(project)
    first = write_lines(tmp_path / "first.jsonl", [a_log(_id=LOG_ID, status="Queued"), a_log(status="Sent")])
    changed = write_lines(tmp_path / "changed.jsonl", [a_log(_id=LOG_ID, status="Delivered")])

    assert json.loads(run("import", first, "--project-id", project)[1])["created"] == 2
    again = json.loads(run("import", changed, "--project-id", project)[1])
    once_more = json.loads(run("import", changed, "--project-id", project)[1])

    assert (again["created"], again["updated"]) == (0, 1)
    assert (once_more["created"], once_more["updated"]) == (0, 1)
    assert rest.ok("POST", "count") == {"count": 2}
    assert rest.ok("POST", f"{LOG_ID}/get-item", {"select": {"status": True}}) == {
        "_id": LOG_ID,
        "status": "Delivered",
    }


def test_reimporting_a_deleted_log_updates_it_and_says_it_stays_deleted(
    rest: Rest, factory: Factory, run: Any, tmp_path: Path
) -> None:
    project = factory.project()
    rest.key = factory.api_key(project)
    factory.log(project, id=LOG_ID, deleted_at=datetime(2026, 7, 1, tzinfo=UTC))
    path = write_lines(tmp_path / "again.jsonl", [a_log(_id=LOG_ID, status="Read"), a_log()])

    summary = json.loads(run("import", path, "--project-id", project)[1])

    assert (summary["created"], summary["updated"], summary["stillDeleted"]) == (1, 1, 0 + 1)
    assert rest.ok("POST", "count") == {"count": 1}
    assert rest("POST", f"{LOG_ID}/get-item").status_code == 404


def test_a_log_repeated_in_one_file_keeps_its_last_line(
    rest: Rest, factory: Factory, run: Any, tmp_path: Path
) -> None:
    project = factory.project()
    rest.key = factory.api_key(project)
    path = write_lines(
        tmp_path / "twice.jsonl", [a_log(_id=LOG_ID, status="Queued"), a_log(_id=LOG_ID, status="Read")]
    )

    assert json.loads(run("import", path, "--project-id", project)[1])["created"] == 1
    assert rest.ok("POST", f"{LOG_ID}/get-item", {"select": {"status": True}})["status"] == "Read"


def test_unknown_related_ids_become_placeholder_records(
    rest: Rest, factory: Factory, run: Any, tmp_path: Path
) -> None:
    project = factory.project()
    rest.key = factory.api_key(project)
    user = "1b2c3d4e-5f60-4a7b-8c9d-0e1f2a3b4c5d"
    path = write_lines(tmp_path / "logs.jsonl", [a_log(_id=LOG_ID, incidentId=INCIDENT, userId=user)])

    code, out, _ = run("import", path, "--project-id", project)

    assert code == 0
    assert json.loads(out)["placeholders"] == {"incident": 1, "user": 1}
    item = rest.ok(
        "POST", f"{LOG_ID}/get-item", {"select": {"incident": {"title": True}, "user": {"name": True}}}
    )
    assert item["incident"] == {"_id": INCIDENT, "title": f"Incident {INCIDENT}"}
    assert item["user"] == {"_id": user, "name": f"User {user}"}


def test_a_log_of_another_project_in_the_file_goes_to_the_project_given(
    rest: Rest, factory: Factory, run: Any, tmp_path: Path
) -> None:
    project = factory.project()
    rest.key = factory.api_key(project)
    elsewhere = "99999999-9999-4999-8999-999999999999"
    path = write_lines(tmp_path / "logs.jsonl", [a_log(_id=LOG_ID, projectId=elsewhere)])

    assert run("import", path, "--project-id", project)[0] == 0
    assert rest.ok("GET", f"{LOG_ID}/get-item", {"select": {"projectId": True}})["projectId"] == project


def test_stdin_is_read_for_a_dash(
    rest: Rest, factory: Factory, run: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    project = factory.project()
    rest.key = factory.api_key(project)
    data = "".join(json.dumps(a_log(status=s)) + "\n" for s in ("Sent", "Read", "Failed")).encode()
    monkeypatch.setattr("sys.stdin", io.TextIOWrapper(io.BytesIO(data)))

    code, out, _ = run("import", "-", "--project-id", project)

    assert (code, json.loads(out)["created"]) == (0, 3)
    assert rest.ok("POST", "count", {"query": {"status": ["Read", "Failed"]}}) == {"count": 2}


BAD_LINES: list[tuple[str, str, str]] = [
    ("invalid JSON", '{"toNumber": "+1", ',
     "invalid JSON (Expecting property name enclosed in double quotes at column 20)"),
    ("not an object", "[1, 2]", "expected a JSON object, not [1, 2]"),
    ("missing required field", json.dumps({"status": "Sent", "whatsAppCostInUSDCents": 1}),
     "toNumber is required"),
    ("null required field", json.dumps(a_log(status=None)), "status is required"),
    ("wrong type", json.dumps(a_log(whatsAppCostInUSDCents="ten")),
     'whatsAppCostInUSDCents must be a whole number (32-bit), not "ten"'),
    ("bad date", json.dumps(a_log(createdAt="21/07/2026")),
     'createdAt is not an ISO 8601 date-time: "21/07/2026"'),
    ("bad id", json.dumps(a_log(incidentId="INC-1")), 'incidentId is not an ID (a UUID): "INC-1"'),
    ("too long", json.dumps(a_log(toNumber="1" * 31)), "toNumber is longer than 30 characters"),
    ("unknown field", json.dumps(a_log(colour="red")), 'unknown field "colour"'),
    ("first instant", json.dumps(a_log(createdAt="0001-01-01T00:00:00Z")),
     "createdAt is the first or last instant a date can hold, which PostgreSQL stores as -infinity or "
     'infinity: "0001-01-01T00:00:00Z"'),
    ("last instant", json.dumps(a_log(updatedAt="9999-12-31T23:59:59.999999+00:00")),
     "updatedAt is the first or last instant a date can hold, which PostgreSQL stores as -infinity or "
     'infinity: "9999-12-31T23:59:59.999999+00:00"'),
    ("relation and id differ", json.dumps(a_log(incidentId=INCIDENT, incident={"_id": LOG_ID})),
     "incident._id and incidentId differ"),
]  # fmt: skip


@pytest.mark.parametrize(("line", "problem"), [c[1:] for c in BAD_LINES], ids=[c[0] for c in BAD_LINES])
def test_a_bad_line_stops_the_import_and_leaves_the_database_unchanged(
    rest: Rest, factory: Factory, run: Any, tmp_path: Path, line: str, problem: str
) -> None:
    project = factory.project()
    factory.logs(project, 2)
    rest.key = factory.api_key(project)
    new_project = "77777777-7777-4777-8777-777777777777"
    good = [json.dumps(a_log(incidentId=INCIDENT)), json.dumps(a_log(_id=LOG_ID))]
    path = tmp_path / "bad.jsonl"
    path.write_text("\n".join([*good, "", line, json.dumps(a_log())]) + "\n", encoding="utf-8")
    projects_before = run("projects", "--json")[1]

    for target in (["--project-id", project], ["--project-id", new_project, "--create-project"]):
        code, out, err = run("import", str(path), *target)
        assert (code, out) == (1, "")
        assert err == f"error: line 4: {problem} (nothing was imported)\n"

    assert rest.ok("POST", "count") == {"count": 2}
    assert rest("POST", f"{LOG_ID}/get-item").status_code == 404
    assert run("projects", "--json")[1] == projects_before
    # Had the incident placeholder survived, this import would keep its label instead of the given one.
    path = write_lines(
        tmp_path / "good.jsonl", [a_log(incident={"_id": INCIDENT, "title": "Checkout is down"})]
    )
    assert json.loads(run("import", path, "--project-id", project)[1])["placeholders"] == {"incident": 1}


def test_a_bad_line_after_a_written_chunk_still_leaves_nothing_behind(
    rest: Rest, factory: Factory, run: Any, tmp_path: Path
) -> None:
    project = factory.project()
    factory.logs(project, 3)
    rest.key = factory.api_key(project)
    lines = [a_log(incidentId=INCIDENT, createdAt=f"2026-07-21T10:{i % 60:02}:00Z") for i in range(6000)]
    path = write_lines(tmp_path / "long.jsonl", [*lines, a_log(whatsAppCostInUSDCents=1.5)])

    code, _, err = run("import", path, "--project-id", project)

    problem = "whatsAppCostInUSDCents must be a whole number (32-bit), not 1.5"
    assert (code, err) == (1, f"error: line 6001: {problem} (nothing was imported)\n")
    assert rest.ok("POST", "count") == {"count": 3}
    assert rest.ok("POST", "count", {"query": {"incidentId": INCIDENT}}) == {"count": 0}


def test_ids_of_another_projects_records_are_refused(
    rest: Rest, factory: Factory, run: Any, tmp_path: Path
) -> None:
    mine, theirs = factory.project("Mine"), factory.project("Theirs")
    their_log = factory.log(theirs, status="Theirs")
    their_incident = factory.related("incident", theirs)
    overwrite = write_lines(tmp_path / "overwrite.jsonl", [a_log(), a_log(_id=their_log, status="Mine now")])
    borrow = write_lines(tmp_path / "borrow.jsonl", [a_log(incidentId=their_incident)])

    assert run("import", overwrite, "--project-id", mine)[2] == (
        f"error: line 2: _id {their_log} belongs to another project (nothing was imported)\n"
    )
    assert run("import", borrow, "--project-id", mine)[2] == (
        f"error: line 1: incidentId {their_incident} belongs to another project (nothing was imported)\n"
    )
    rest.key = factory.api_key(theirs)
    assert rest.ok("POST", f"{their_log}/get-item", {"select": {"status": True}})["status"] == "Theirs"
    rest.key = factory.api_key(mine)
    assert rest.ok("POST", "count") == {"count": 0}


def test_a_project_id_that_is_not_an_id_or_a_missing_file_is_an_error(run: Any, tmp_path: Path) -> None:
    assert run("import", str(tmp_path / "x.jsonl"), "--project-id", "acme")[1:] == (
        "",
        "error: --project-id: not a project id (a UUID): 'acme'\n",
    )
    code, _, err = run("import", str(tmp_path / "missing.jsonl"), "--project-id", INCIDENT)
    assert (code, err) == (1, f"error: cannot read {tmp_path / 'missing.jsonl'}: No such file or directory\n")


def test_a_project_that_does_not_exist_is_created_only_with_create_project(
    rest: Rest, factory: Factory, run: Any, tmp_path: Path
) -> None:
    mistyped = "77777777-7777-4777-8777-777777777777"
    path = write_lines(tmp_path / "logs.jsonl", [a_log(project={"_id": mistyped, "name": "Acme"})])

    refused = run("import", path, "--project-id", mistyped)
    projects_after_refusal = run("projects", "--json")[1]
    created = run("import", path, "--project-id", mistyped, "--create-project")

    assert refused == (
        1,
        "",
        f"error: no project with id {mistyped}: check it with `graphql-api projects`, "
        "or pass --create-project to create it\n",
    )
    assert projects_after_refusal == "[]\n"
    assert json.loads(created[1])["placeholders"] == {"project": 1}
    assert json.loads(run("projects", "--json")[1]) == [{"id": mistyped, "name": "Acme"}]


def test_dates_without_an_offset_are_utc_and_missing_dates_default_to_now(
    rest: Rest, factory: Factory, run: Any, tmp_path: Path
) -> None:
    project = factory.project()
    rest.key = factory.api_key(project)
    other = "5a5b5c5d-5e5f-4a6b-8c7d-8e9f0a1b2c3d"
    path = write_lines(
        tmp_path / "dates.jsonl", [a_log(_id=LOG_ID, createdAt="2026-07-21T09:30:00"), a_log(_id=other)]
    )
    before = datetime.now(UTC)

    run("import", path, "--project-id", project)

    select = {"select": {"createdAt": True, "updatedAt": True}}
    dated = rest.ok("POST", f"{LOG_ID}/get-item", select)
    assert (dated["createdAt"], dated["updatedAt"]) == (
        "2026-07-21T09:30:00+00:00",
        "2026-07-21T09:30:00+00:00",
    )
    assert datetime.fromisoformat(
        rest.ok("POST", f"{other}/get-item", select)["createdAt"]
    ) >= before.replace(microsecond=0)
