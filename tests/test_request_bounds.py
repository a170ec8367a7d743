"""Every request is bounded: no document, filter or value makes a worker hang or burn seconds of CPU.

Each class of the attack pass (issue 12) at its boundary and past it: fragment fan-out, SQL that
outlives its request, filters and sorts whose work the row-based cost cannot see, validation before the
key is checked, and filters too large to build. The tests assert answers and counts (conditions, CPU
spent by the server after it answered), never speed; `python -m bench.attacks` measures the rest.
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from typing import Any

import pytest
from sqlalchemy.engine import make_url
from starlette.testclient import TestClient

from graphql_api.data.fields import FIELDS
from graphql_api.data.kinds import STRING
from tests.conftest import GraphQL
from tests.factories import Factory
from tests.live import serve_process
from tests.test_time_and_rate_limits import _table_locked as table_locked
from tests.test_time_and_rate_limits import _waiting_on_locks as waiting_on_locks


def both_paths(**settings: Any) -> pytest.MarkDecorator:
    """Run on the compiled path and on Strawberry's regular execution, with these settings."""
    return pytest.mark.parametrize(
        "overrides",
        [{"compiled_execution": True, **settings}, {"compiled_execution": False, **settings}],
        ids=["compiled", "regular"],
    )


BOTH_PATHS = both_paths()


def fan_out(levels: int, spreads: int = 2) -> str:
    """Fragments F0..F{levels}, each spreading the next one `spreads` times: naively 2**levels fields."""
    chain = " ".join(
        f"fragment F{i} on WhatsAppLog {{ {' '.join([f'...F{i + 1}'] * spreads)} }}" for i in range(levels)
    )
    return f"{chain} fragment F{levels} on WhatsAppLog {{ id status }}"


def contains_any(count: int, field: str = "messageText") -> dict[str, Any]:
    return {"or": [{field: {"contains": f"needle-{i}"}} for i in range(count)]}


def code(body: dict[str, Any]) -> str:
    [error, *_] = body["errors"]
    return str(error["extensions"]["code"])


@pytest.fixture
def project(factory: Factory, gql: GraphQL) -> str:
    project = factory.project()
    factory.logs(project, 3, incident_id=factory.related("incident", project, "Outage"))
    gql.key = factory.api_key(project)
    return project


@pytest.fixture
def long_texts(factory: Factory, project: str) -> None:
    """Enough text that a search through all of it takes tens of milliseconds of database work."""
    factory.logs(project, 4000, message_text="an alert about a monitor that went down " * 50)


# --- 1. fragment fan-out -------------------------------------------------------------------------------


@BOTH_PATHS
def test_fragments_spreading_each_other_are_expanded_once(gql: GraphQL, project: str) -> None:
    # 40 levels: 2**40 fields if each spread were expanded again (the regular path did that).
    query = fan_out(40) + " { whatsAppLogs(limit: 2) { ...F0 incident { ...Title } } }"
    query += " fragment Title on Incident { ...T ...T } fragment T on Incident { title }"
    logs = gql.data(query)["whatsAppLogs"]
    assert [log["incident"] for log in logs] == [{"title": "Outage"}] * 2
    assert all(log["status"] == "Sent" for log in logs)


def test_fan_out_behind_a_bad_cursor_answers_at_once_and_the_server_stays_responsive(
    factory: Factory, database_url: str, project: str
) -> None:
    """The attack as sent to a default server: a bad cursor hands the document to the regular path."""
    key = factory.api_key(project)
    query = fan_out(40) + ' { whatsAppLogsConnection(first: 1, after: "bad") { nodes { ...F0 } } }'
    with serve_process(database_url) as (url, _process), HealthProbe(url) as health:
        body = post(url, {"query": query}, key)
        body_again = post(url, {"query": query + " # again"}, key)
    assert code(body) == code(body_again) == "BAD_USER_INPUT"
    assert health.answered > 0 and health.failures == []


# --- 2. statements stop with their request ---------------------------------------------------------------


@pytest.mark.backends("sqlite")
@pytest.mark.parametrize("compiled", ["true", "false"])
def test_statements_of_a_timed_out_request_stop_with_it(
    factory: Factory, database_url: str, project: str, long_texts: None, compiled: str
) -> None:
    """Three slow root fields past a short time limit: TIMEOUT, and no statement runs on afterwards (the
    regular path's ran to their end, minutes of CPU with more threads each time)."""
    key = factory.api_key(project)
    where = contains_any(20)
    roots = " ".join(f"r{i}: whatsAppLogCount(where: $w)" for i in range(3))
    request = {"query": f"query($w: WhatsAppLogFilter) {{ {roots} }}", "variables": {"w": where}}
    env = {"REQUEST_TIMEOUT_SECONDS": "0.05", "REQUEST_WORK_SECONDS": "0", "COMPILED_EXECUTION": compiled}
    with serve_process(database_url, **env) as (url, process):
        # The same work without a time limit, for scale: what the statements would have cost.
        answered = post(url, request, key)
        assert code(answered) == "TIMEOUT"
        after = cpu_seconds(process.pid)
        time.sleep(1.0)
        left_running = cpu_seconds(process.pid) - after
    # A statement left running would use the whole second; the idle server uses next to nothing.
    assert left_running < 0.5


# --- 3. the work of filters, sorts and skips --------------------------------------------------------------


@both_paths(request_work_seconds=0.001)
def test_a_request_past_its_database_work_is_stopped_with_a_reason(gql: GraphQL, long_texts: None) -> None:
    body = gql("query($w: WhatsAppLogFilter) { whatsAppLogCount(where: $w) }", {"w": contains_any(20)})
    assert code(body) == "QUERY_TOO_COMPLEX"
    message = body["errors"][0]["message"]
    assert message.startswith("The request needed more than 0.001 s of database work and was stopped.")
    assert "page by cursor" in message


@BOTH_PATHS
def test_the_same_search_within_the_default_budget_is_answered(gql: GraphQL, long_texts: None) -> None:
    data = gql.data(
        "query($w: WhatsAppLogFilter) { whatsAppLogCount(where: $w) }",
        {"w": {"or": [{"messageText": {"contains": "WENT DOWN"}}, *contains_any(19)["or"]]}},
    )
    assert data == {"whatsAppLogCount": 4000}


@pytest.mark.backends("postgresql")
@both_paths(request_work_seconds=0.3, statement_timeout_ms=120_000, lock_timeout_ms=0)
def test_a_postgresql_statement_past_the_budget_is_cancelled_on_the_server(
    client: TestClient, gql: GraphQL, project: str, database_url: str
) -> None:
    """A statement waiting on a lock (LOCK_TIMEOUT_MS off: the wait stands for any slow statement) uses no
    CPU but holds a backend: past the budget it is answered
    QUERY_TOO_COMPLEX (not an outage) and cancelled on the server, not left waiting."""
    dsn = make_url(database_url).set(drivername="postgresql").render_as_string(hide_password=False)
    gql("{ whatsAppLogCount }")  # the key is checked once, before the lock
    with table_locked(dsn, "whatsapp_log"):
        body = gql('{ whatsAppLogCount(where: {status: {eq: "Sent"}}) }')
        assert code(body) == "QUERY_TOO_COMPLEX"
        deadline = time.monotonic() + 20
        while waiting_on_locks(dsn) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert waiting_on_locks(dsn) == 0


@pytest.mark.parametrize("overrides", [{"request_work_seconds": 0.001}])
def test_rest_requests_share_the_work_budget(client: TestClient, gql: GraphQL, long_texts: None) -> None:
    response = client.post(
        "/api/whatsapp-log/get-list",
        json={
            "query": {
                f.rest_name: {"_type": "NotContains", "value": "zz"}
                for f in FIELDS.values()
                if f.kind is STRING
            },
            "sort": {"toNumber": "ASC"},
            "skip": 3000,
        },
        headers={"ApiKey": gql.key or ""},
    )
    assert response.status_code == 400
    assert response.json()["message"].startswith("The request needed more than 0.001 s of database work")


def test_a_key_with_a_request_in_progress_waits_and_then_gets_429(
    factory: Factory, database_url: str, project: str, long_texts: None, backend: str
) -> None:
    key = factory.api_key(project)
    other_key = factory.api_key(factory.project())
    slow = {"query": "query($w: WhatsAppLogFilter) { whatsAppLogCount(where: $w) }"}
    # About a second of work on each database (PostgreSQL's ILIKE does without SQLite's Python lower()).
    slow["variables"] = {"w": contains_any(100 if backend == "sqlite" else 12)}  # type: ignore[assignment]
    env = {"MAX_REQUESTS_PER_KEY": "1", "POOL_TIMEOUT": "0.2", "REQUEST_WORK_SECONDS": "30"}
    with serve_process(database_url, **env) as (url, _process):
        first: list[dict[str, Any]] = []
        thread = threading.Thread(target=lambda: first.append(post(url, slow, key)))
        thread.start()
        time.sleep(0.1)
        refused = post_raw(url, {"query": "{ whatsAppLogCount }"}, key)
        other = post(url, {"query": "{ whatsAppLogCount }"}, other_key)
        thread.join(60)
    assert first and first[0]["data"] == {"whatsAppLogCount": 0}
    status, headers, body = refused
    assert status == 429 and headers["retry-after"] == "1"
    assert code(body) == "RATE_LIMITED"
    assert "in progress with this API key" in body["errors"][0]["message"]
    assert other == {"data": {"whatsAppLogCount": 0}}


def test_a_key_over_its_requests_in_progress_gets_its_turn_when_one_finishes(
    factory: Factory, database_url: str, project: str, long_texts: None, backend: str
) -> None:
    key = factory.api_key(project)
    slow = {"query": "query($w: WhatsAppLogFilter) { whatsAppLogCount(where: $w) }"}
    slow["variables"] = {"w": contains_any(100 if backend == "sqlite" else 12)}  # type: ignore[assignment]
    env = {"MAX_REQUESTS_PER_KEY": "1", "POOL_TIMEOUT": "30", "REQUEST_WORK_SECONDS": "30"}
    with serve_process(database_url, **env) as (url, _process):
        answers: list[tuple[str, dict[str, Any]]] = []

        def ask(name: str, body: dict[str, Any]) -> None:
            answers.append((name, post(url, body, key)))

        first = threading.Thread(target=ask, args=("slow", slow))
        first.start()
        time.sleep(0.1)
        # Both wait for the slow one's slot, then have it in turn.
        waiting = [
            threading.Thread(target=ask, args=(name, {"query": "{ whatsAppLogCount }"}))
            for name in ("second", "third")
        ]
        for thread in waiting:
            thread.start()
        for thread in (first, *waiting):
            thread.join(60)
    assert sorted(name for name, _ in answers) == ["second", "slow", "third"]
    assert answers[0] == ("slow", {"data": {"whatsAppLogCount": 0}})
    second, third = (body for _, body in answers[1:])
    assert "errors" not in second and second == third
    assert second["data"]["whatsAppLogCount"] > 0


# --- 4. validation before authentication --------------------------------------------------------------


def repeated(times: int) -> str:
    return "{ whatsAppLogs(limit: 1) { " + "incident { title id } " * times + "} }"


def test_a_field_selected_20_times_is_fine(gql: GraphQL, project: str) -> None:
    assert gql.data(repeated(20))["whatsAppLogs"] == [{"incident": {"title": "Outage", "id": _any()}}]


@pytest.mark.parametrize("key", [None, "wal_not-a-key"])
def test_a_field_selected_330_times_is_refused_before_validation(gql: GraphQL, key: str | None) -> None:
    body = gql(repeated(330), key=key or "")
    assert body["errors"] == [
        {
            "message": "The operation selects `incident` 330 times in one selection set (fragments "
            "included); at most 20 are allowed. Select each field once.",
            "extensions": {"code": "QUERY_TOO_COMPLEX"},
        }
    ]


def test_repeats_through_fragments_count_too(gql: GraphQL, project: str) -> None:
    fragments = " ".join(f"fragment R{i} on WhatsAppLog {{ id }}" for i in range(21))
    spreads = " ".join(f"...R{i}" for i in range(21))
    body = gql(f"{fragments} {{ whatsAppLogs {{ {spreads} }} }}")
    assert code(body) == "QUERY_TOO_COMPLEX"
    assert "selects `id` 21 times" in body["errors"][0]["message"]


def test_a_fragment_spread_again_inside_inline_fragments_counts_once(gql: GraphQL, project: str) -> None:
    chain = " ".join(
        f"fragment F{i} on WhatsAppLog {{ ... {{ ...F{i + 1} }} ... {{ ...F{i + 1} }} }}" for i in range(30)
    )
    query = f"{chain} fragment F30 on WhatsAppLog {{ id status }} {{ whatsAppLogs(limit: 1) {{ ...F0 }} }}"
    assert [set(log) for log in gql.data(query)["whatsAppLogs"]] == [{"id", "status"}]


def test_a_comment_does_not_change_the_validation_verdict(gql: GraphQL, project: str) -> None:
    query = "{ whatsAppLogs(limit: 1) { nope } }"
    first, second = gql(query), gql(query + " # a comment that moves nothing")
    assert first["errors"][0]["message"] == second["errors"][0]["message"]
    assert code(first) == code(second) == "GRAPHQL_VALIDATION_FAILED"


# --- 5. filters too large to build --------------------------------------------------------------------


@BOTH_PATHS
def test_a_hundred_conditions_over_all_root_fields_are_allowed(gql: GraphQL, project: str) -> None:
    roots = " ".join(f"r{i}: whatsAppLogCount(where: $w)" for i in range(10))
    data = gql.data(f"query($w: WhatsAppLogFilter) {{ {roots} }}", {"w": contains_any(10)})
    assert set(data.values()) == {0}


@BOTH_PATHS
# 11 conditions used by 10 roots are counted per use; a variable already past the limit on its own is
# refused before graphql-core coerces it (that alone cost ~90 ms for 900 conditions).
@pytest.mark.parametrize(("items", "counted"), [(11, 110), (900, 900)])
def test_more_conditions_are_refused_before_any_sql(
    gql: GraphQL, project: str, items: int, counted: int
) -> None:
    roots = " ".join(f"r{i}: whatsAppLogCount(where: $w)" for i in range(10))
    body = gql(f"query($w: WhatsAppLogFilter) {{ {roots} }}", {"w": contains_any(items)})
    assert body["errors"] == [
        {
            "message": f"The filters hold {counted} conditions; at most 100 are allowed per request (all "
            "filters together). Use `in` for a list of values.",
            "locations": [{"line": 1, "column": 1}],
            "extensions": {"code": "QUERY_TOO_COMPLEX"},
        }
    ]


@pytest.mark.backends("sqlite")
def test_an_or_of_a_thousand_is_refused_not_an_expression_tree_error(gql: GraphQL, project: str) -> None:
    body = gql("query($w: WhatsAppLogFilter) { whatsAppLogCount(where: $w) }", {"w": contains_any(1000)})
    assert code(body) == "QUERY_TOO_COMPLEX"


# --- helpers ------------------------------------------------------------------------------------------------


class _any:  # noqa: N801 - reads as a value in an expected structure
    def __eq__(self, other: object) -> bool:
        return True


def post_raw(url: str, body: dict[str, Any], key: str) -> tuple[int, dict[str, str], dict[str, Any]]:
    request = urllib.request.Request(
        f"{url}/graphql",
        json.dumps(body).encode(),
        {"content-type": "application/json", "ApiKey": key},
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, dict(response.headers.items()), json.loads(response.read())
    except urllib.error.HTTPError as error:
        headers = {k.lower(): v for k, v in error.headers.items()}
        return error.code, headers, json.loads(error.read())


def post(url: str, body: dict[str, Any], key: str) -> dict[str, Any]:
    status, _headers, answer = post_raw(url, body, key)
    assert status == 200, answer
    return answer


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (its threads included)."""
    with open(f"/proc/{pid}/stat") as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class HealthProbe:
    """Asks /healthz every 20 ms in a thread while the block runs; a probe that gets no answer within 2 s
    is a failure (a blocked event loop takes seconds)."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.answered = 0
        self.failures: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                with urllib.request.urlopen(f"{self.url}/healthz", timeout=2) as response:
                    response.read()
                self.answered += 1
            except OSError as error:
                self.failures.append(repr(error))
            self._stop.wait(0.02)

    def __enter__(self) -> HealthProbe:
        self._thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        self._thread.join(10)
