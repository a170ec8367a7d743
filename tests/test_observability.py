"""Operations: /metrics in Prometheus text format, and one structured log line per request."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families
from starlette.testclient import TestClient

from graphql_api.data import queries
from graphql_api.data.auth import hash_secret
from graphql_api.http.app import create_app
from graphql_api.http.logs import JsonFormatter
from graphql_api.settings import Settings
from tests.conftest import GraphQL, StatementCounter
from tests.factories import Factory
from tests.live import free_port, serve_process, stop
from tests.suite import SUITE_ENV

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: TestClient) -> Samples:
    """Every sample of /metrics, keyed by name and labels; the text must parse as Prometheus's."""
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain; version=")
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(response.text)
        for s in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def total(samples: Samples, name: str, **labels: str) -> float:
    """The sum of the samples of `name` whose labels include `labels`."""
    wanted = set(labels.items())
    return sum(v for (n, ls), v in samples.items() if n == name and wanted <= ls)


@pytest.fixture
def key(factory: Factory) -> str:
    project = factory.project()
    factory.logs(project, 3)
    return factory.api_key(project)


@pytest.fixture
def access_log(caplog: pytest.LogCaptureFixture) -> pytest.LogCaptureFixture:
    """Captures the request log lines (`graphql_api.access`, at INFO) written during the test."""
    caplog.set_level(logging.INFO, logger="graphql_api.access")
    return caplog


def access_lines(caplog: pytest.LogCaptureFixture) -> list[dict[str, Any]]:
    """The request log lines as the server writes them in JSON, parsed back."""
    formatter = JsonFormatter()
    return [json.loads(formatter.format(r)) for r in caplog.records if r.name == "graphql_api.access"]


def test_metrics_are_prometheus_text_with_every_family(client: TestClient, gql: GraphQL, key: str) -> None:
    gql.data("query Count { whatsAppLogCount }", key=key)
    response = client.get("/metrics")
    families = {f.name: f.type for f in text_string_to_metric_families(response.text)}

    assert families == {
        "graphql_api_requests": "counter",
        "graphql_api_request_duration_seconds": "histogram",
        "graphql_api_sql_statements": "counter",
        "graphql_api_db_pool_connections": "gauge",
        "graphql_api_db_pool_size": "gauge",
    }


def test_requests_are_counted_by_operation_name_and_outcome(
    client: TestClient, gql: GraphQL, key: str
) -> None:
    for _ in range(2):
        gql.data("query Count { whatsAppLogCount }", key=key)
    gql.data("{ whatsAppLogs { id } }", key=key)
    gql("query Count { whatsAppLogCount }", key="wal_not-a-real-key-at-all")
    gql("query Broken { whatsAppLogs { noSuchField } }", key=key)
    client.get("/healthz")

    samples = scrape(client)
    requests = "graphql_api_requests_total"
    assert value(samples, requests, route="/graphql", operation="Count", outcome="ok") == 2
    assert value(samples, requests, route="/graphql", operation="anonymous", outcome="ok") == 1
    assert value(samples, requests, route="/graphql", operation="Count", outcome="UNAUTHENTICATED") == 1
    assert (
        value(samples, requests, route="/graphql", operation="Broken", outcome="GRAPHQL_VALIDATION_FAILED")
        == 1
    )
    assert value(samples, requests, route="/healthz", operation="", outcome="ok") == 1
    # The latency histogram saw each request once.
    assert (
        value(samples, "graphql_api_request_duration_seconds_count", route="/graphql", operation="Count") == 3
    )
    assert (
        value(
            samples,
            "graphql_api_request_duration_seconds_bucket",
            route="/graphql",
            operation="Count",
            le="+Inf",
        )
        == 3
    )


def test_the_latency_histogram_holds_each_requests_duration_in_its_bucket(
    client: TestClient, gql: GraphQL, key: str, access_log: pytest.LogCaptureFixture
) -> None:
    """Requests are added up in the process and written to the histogram several at once: its count,
    sum and every cumulative bucket are still those of the durations the log lines give."""
    for n in range(40):
        field = "whatsAppLogCount" if n % 2 else "whatsAppLogs { id }"
        gql.data(f"query Timed {{ {field} }}", key=key)
    lines = access_lines(access_log)
    durations = [line["duration_ms"] / 1000 for line in lines if line["route"] == "/graphql"]

    samples = scrape(client)
    labels = {"route": "/graphql", "operation": "Timed"}
    assert len(durations) == 40
    assert value(samples, "graphql_api_request_duration_seconds_count", **labels) == 40
    # The log line rounds to a hundredth of a millisecond.
    logged_sum = sum(durations)
    assert abs(value(samples, "graphql_api_request_duration_seconds_sum", **labels) - logged_sum) < 40 * 1e-5
    bounds = {
        dict(ls)["le"]
        for n, ls in samples
        if n == "graphql_api_request_duration_seconds_bucket" and dict(ls)["operation"] == "Timed"
    }
    assert len(bounds) > 10
    for bound in bounds:
        limit = float(bound)
        if any(abs(d - limit) < 1e-5 for d in durations):
            continue  # too close to the bound to tell from a rounded figure
        below = sum(1 for d in durations if d <= limit)
        bucket = value(samples, "graphql_api_request_duration_seconds_bucket", le=bound, **labels)
        assert bucket == below, bound


def test_operation_labels_stay_few_whatever_names_clients_send(client: TestClient, gql: GraphQL) -> None:
    for n in range(110):
        gql(f"query Op{n} {{ whatsAppLogCount }}")
    client.get("/no/such/path/42")
    client.get("/no/such/path/43")

    samples = scrape(client)
    operations = {
        dict(labels)["operation"] for name, labels in samples if name == "graphql_api_requests_total"
    }
    routes = {dict(labels)["route"] for name, labels in samples if name == "graphql_api_requests_total"}
    assert len(operations) <= 100 + 2  # the first hundred names, `other`, and "" for non-GraphQL routes
    assert (
        value(
            samples,
            "graphql_api_requests_total",
            route="/graphql",
            operation="other",
            outcome="UNAUTHENTICATED",
        )
        == 10
    )
    assert routes == {"/graphql", "unmatched"}  # paths nothing routes to share one label


def test_sql_statements_are_counted(
    client: TestClient, gql: GraphQL, key: str, sql_statements: StatementCounter
) -> None:
    before = total(scrape(client), "graphql_api_sql_statements_total")
    sql_statements.reset()
    gql.data("{ whatsAppLogs { id incident { title } } whatsAppLogCount }", key=key)

    assert sql_statements.count >= 1
    assert total(scrape(client), "graphql_api_sql_statements_total") - before == sql_statements.count


def test_pool_gauges_show_connections_back_in_the_pool_after_a_request(
    client: TestClient, gql: GraphQL, key: str
) -> None:
    gql.data("{ whatsAppLogCount }", key=key)
    samples = scrape(client)

    assert value(samples, "graphql_api_db_pool_connections", database="primary", state="in_use") == 0
    assert value(samples, "graphql_api_db_pool_connections", database="primary", state="idle") >= 1
    assert value(samples, "graphql_api_db_pool_size", database="primary") >= 1


def test_metrics_can_be_turned_off(settings: Settings) -> None:
    with TestClient(create_app(settings.with_(metrics=False))) as client:
        assert client.get("/metrics").status_code == 404


@pytest.mark.backends("sqlite")
def test_with_metrics_off_requests_are_logged_but_nothing_is_counted(
    database_url: str, key: str, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    env = {"METRICS": "false", "PROMETHEUS_MULTIPROC_DIR": str(metrics_dir)}
    with serve_process(database_url, **env) as (url, _process):
        for n in range(3):
            _post_graphql(url, "query Count { whatsAppLogCount }", key, f"off-{n}")
        with pytest.raises(urllib.error.HTTPError) as scraped:
            urllib.request.urlopen(f"{url}/metrics", timeout=10)
    assert scraped.value.code == 404
    # No count of requests or statements, no pool gauges: the workers wrote no metric at all.
    assert sorted(path.name for path in metrics_dir.iterdir()) == []


def test_each_request_logs_one_line_with_its_id_operation_key_and_outcome(
    client: TestClient, factory: Factory, key: str, access_log: pytest.LogCaptureFixture
) -> None:
    key_row = factory.run(lambda conn: queries.find_api_key(conn, secret_hash=hash_secret(key)))
    response = client.post(
        "/graphql",
        json={"query": "query Count { whatsAppLogCount }"},
        headers={"ApiKey": key, "X-Request-Id": "req-123"},
    )

    [line] = access_lines(access_log)
    assert response.status_code == 200
    assert line["request_id"] == "req-123"
    assert line["operation"] == "Count"
    assert line["key_id"] == key_row.id
    assert (line["method"], line["path"], line["route"], line["status"], line["outcome"]) == (
        "POST", "/graphql", "/graphql", 200, "ok"
    )  # fmt: skip
    assert isinstance(line["duration_ms"], float) and line["duration_ms"] >= 0
    assert line["level"] == "info" and line["logger"] == "graphql_api.access"


def test_the_request_log_never_contains_the_secret(
    client: TestClient, key: str, access_log: pytest.LogCaptureFixture
) -> None:
    client.post("/graphql", json={"query": "{ whatsAppLogCount }"}, headers={"ApiKey": key})
    client.post("/graphql", json={"query": "{ whatsAppLogs { noSuchField } }"}, headers={"ApiKey": key})
    client.get("/graphql?query={whatsAppLogCount}", headers={"ApiKey": key})
    revoked = key[:-4] + "AAAA"
    client.post("/graphql", json={"query": "{ whatsAppLogCount }"}, headers={"ApiKey": revoked})

    lines = access_lines(access_log)
    assert len(lines) == 4
    assert [line["outcome"] for line in lines] == ["ok", "GRAPHQL_VALIDATION_FAILED", "ok", "UNAUTHENTICATED"]
    assert lines[-1]["key_id"] is None  # an unknown key has no id to log
    everything = json.dumps(lines)
    assert key not in everything and revoked not in everything and key[4:20] not in everything


def test_a_refused_http_request_is_logged_with_its_status(
    client: TestClient, access_log: pytest.LogCaptureFixture
) -> None:
    client.post("/graphql", content=b"{not json", headers={"Content-Type": "application/json"})

    [line] = access_lines(access_log)
    assert (line["status"], line["outcome"], line["operation"]) == (400, "BAD_USER_INPUT", None)


def _wait_for(url: str, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        assert process.poll() is None, "graphql-api serve exited"
        try:
            with urllib.request.urlopen(url, timeout=1):
                return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"no answer from {url}")


def _post_graphql(url: str, query: str, key: str, request_id: str) -> None:
    request = urllib.request.Request(
        f"{url}/graphql",
        data=json.dumps({"query": query}).encode(),
        headers={"Content-Type": "application/json", "ApiKey": key, "X-Request-Id": request_id},
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        assert json.load(response) == {"data": {"whatsAppLogCount": 3}}


@pytest.mark.backends("sqlite")
def test_serve_with_two_workers_logs_json_lines_and_adds_up_their_metrics(
    database_url: str, key: str, tmp_path: Path
) -> None:
    metrics_dir = tmp_path / "metrics"
    metrics_dir.mkdir()
    environ = {k: v for k, v in os.environ.items() if k != "LOG_FORMAT"}  # serve's default: JSON
    environ.update(SUITE_ENV, DATABASE_URL=database_url, PROMETHEUS_MULTIPROC_DIR=str(metrics_dir))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    stderr = tmp_path / "stderr.log"
    command = [sys.executable, "-m", "graphql_api", "serve", "--port", str(port), "--workers", "2"]
    with stderr.open("wb") as sink:
        process = subprocess.Popen(command, env=environ, stdout=subprocess.DEVNULL, stderr=sink)
    try:
        _wait_for(f"{url}/healthz", process)
        for n in range(12):
            _post_graphql(url, "query Count { whatsAppLogCount }", key, f"serve-{n}")
        # A request is counted once its answer has gone out: the other worker's scrape may come first.
        deadline = time.monotonic() + 5
        while True:
            with urllib.request.urlopen(f"{url}/metrics", timeout=10) as response:
                exposition = response.read().decode()
            if _count_requests(exposition) == 12 or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    finally:
        stop(process, timeout=20)

    # Every line on stderr is a JSON object, uvicorn's own included; one per GraphQL request.
    entries = [json.loads(line) for line in stderr.read_text().splitlines() if line.strip()]
    requests = [e for e in entries if e["logger"] == "graphql_api.access" and e["route"] == "/graphql"]
    assert sorted(e["request_id"] for e in requests) == sorted(f"serve-{n}" for n in range(12))
    assert {(e["operation"], e["outcome"], e["status"]) for e in requests} == {("Count", "ok", 200)}
    assert all(isinstance(e["pid"], int) and e["pid"] != process.pid for e in requests)  # the workers'
    now = datetime.now(UTC)
    assert all(abs(datetime.fromisoformat(e["time"]) - now) < timedelta(minutes=5) for e in requests)
    assert key not in stderr.read_text()
    # Both workers keep their counts in the shared directory; one scrape adds them all up.
    assert len({path.stem.rsplit("_", 1)[1] for path in metrics_dir.glob("counter_*.db")}) == 2
    assert _count_requests(exposition) == 12


def _count_requests(exposition: str) -> float:
    samples = {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }
    return total(samples, "graphql_api_requests_total", route="/graphql", operation="Count", outcome="ok")


@pytest.mark.parametrize(
    "created",
    [1085073535.929, 1764955496.0004, 1764955496.9995, 1764955499.9999996, 0.5, 1764955496.1234567],
)
def test_a_json_log_line_has_the_records_time_in_utc_to_the_millisecond(created: float) -> None:
    record = logging.makeLogRecord({"msg": "m", "created": created})

    line = json.loads(JsonFormatter().format(record))

    assert line["time"] == datetime.fromtimestamp(created, UTC).isoformat(timespec="milliseconds")


def test_a_json_log_line_writes_what_json_has_no_type_for_as_text() -> None:
    when = datetime(2026, 12, 5, 17, 4, 56, tzinfo=UTC)
    record = logging.makeLogRecord(
        {"msg": "%s rows", "args": (3,), "when": when, "huge": 2**70, "raw": b"\xff", "keys": {1: "one"}}
    )

    line = json.loads(JsonFormatter().format(record))

    assert line["message"] == "3 rows"
    assert (line["when"], line["huge"], line["raw"], line["keys"]) == (
        str(when),
        2**70,
        str(b"\xff"),
        {"1": "one"},
    )


def test_an_unknown_log_format_is_refused() -> None:
    environ = {**os.environ, "LOG_FORMAT": "xml"}
    result = subprocess.run(
        [sys.executable, "-m", "graphql_api", "projects"],
        env=environ,
        capture_output=True,
        text=True,
        check=False,
    )

    assert result.returncode == 2
    assert "LOG_FORMAT must be one of json, text" in result.stderr
