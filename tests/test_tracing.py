"""Optional OpenTelemetry tracing: a server span per request with the operation name and request id,
`traceparent` honoured, parse and validate spans, a span per SQL statement on both execution paths and
REST; nothing at all when off. Spans are read with the SDK's in-memory exporter."""

from __future__ import annotations

import json
import os
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind
from starlette.testclient import TestClient

from graphql_api.cli.commands import main
from graphql_api.http.app import create_app
from tests.factories import Factory
from tests.live import serve_process
from tests.suite import suite_settings

QUERY = 'query Logs { whatsAppLogs(where: { toNumber: { eq: "+15550001111" } }) { id status } }'
TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
PARENT_ID = "00f067aa0ba902b7"
_EXPORTER = InMemorySpanExporter()


@pytest.fixture(scope="module", autouse=True)
def provider() -> None:
    """The process's tracer provider, recording in memory (a provider is set once per process)."""
    if not isinstance(trace.get_tracer_provider(), TracerProvider):
        recording = TracerProvider()
        recording.add_span_processor(SimpleSpanProcessor(_EXPORTER))
        trace.set_tracer_provider(recording)


@pytest.fixture
def spans() -> Iterator[InMemorySpanExporter]:
    _EXPORTER.clear()
    yield _EXPORTER
    _EXPORTER.clear()


@pytest.fixture
def key(factory: Factory) -> str:
    project = factory.project("Traced")
    factory.logs(project, 3, to_number="+15550001111")
    return factory.api_key(project)


def traced_client(database_url: str, **settings: Any) -> TestClient:
    return TestClient(
        create_app(suite_settings(database_url, **{"otel_traces_exporter": "console", **settings}))
    )


def named(spans: InMemorySpanExporter, prefix: str) -> list[ReadableSpan]:
    return [span for span in spans.get_finished_spans() if span.name.startswith(prefix)]


def server_span(spans: InMemorySpanExporter) -> ReadableSpan:
    [span] = [
        s for s in spans.get_finished_spans() if s.kind is SpanKind.SERVER and s.name.startswith("POST")
    ]
    return span


def statement_spans(spans: InMemorySpanExporter) -> list[ReadableSpan]:
    return [
        s
        for s in spans.get_finished_spans()
        if s.kind is SpanKind.CLIENT and s.attributes.get("db.statement")
    ]


@pytest.mark.parametrize("compiled", [True, False], ids=["compiled", "regular"])
def test_a_graphql_request_is_one_trace_with_its_parse_validate_and_sql(
    database_url: str, key: str, spans: InMemorySpanExporter, compiled: bool
) -> None:
    with traced_client(database_url, compiled_execution=compiled) as client:
        for repeat in (False, True):
            spans.clear()
            traceparent = f"00-{TRACE_ID}-{PARENT_ID}-01"
            response = client.post(
                "/graphql", json={"query": QUERY}, headers={"ApiKey": key, "traceparent": traceparent}
            )
            assert len(response.json()["data"]["whatsAppLogs"]) == 3
            server = server_span(spans)
            assert format(server.context.trace_id, "032x") == TRACE_ID
            assert server.parent is not None and format(server.parent.span_id, "016x") == PARENT_ID
            assert server.attributes["http.request_id"] == response.headers["x-request-id"]
            assert server.attributes["graphql.operation.name"] == "Logs"
            assert server.name.endswith(" Logs")
            # A request the compiled path saw pass before is not parsed or validated again.
            skipped = compiled and repeat
            assert bool(named(spans, "GraphQL Parsing")) is not skipped
            assert bool(named(spans, "GraphQL Validation")) is not skipped
            statements = statement_spans(spans)
            assert any("whatsapp_log" in s.attributes["db.statement"] for s in statements)
            for span in spans.get_finished_spans():
                assert span.context.trace_id == server.context.trace_id, span.name


def test_spans_carry_no_values_from_the_request(
    database_url: str, key: str, spans: InMemorySpanExporter
) -> None:
    with traced_client(database_url) as client:
        client.post("/graphql", json={"query": QUERY}, headers={"ApiKey": key})
    attributes = [json.dumps(dict(span.attributes or {})) for span in spans.get_finished_spans()]
    assert attributes and not any(
        "5550001111" in a.replace('\\"', "") and "db.statement" in a for a in attributes
    )
    assert not any(key in a for a in attributes)


def test_a_rest_request_has_its_server_span_and_a_span_per_statement(
    database_url: str, key: str, spans: InMemorySpanExporter
) -> None:
    with traced_client(database_url) as client:
        response = client.post("/api/whatsapp-log/get-list", json={}, headers={"ApiKey": key})
    assert response.json()["count"] == 3
    server = server_span(spans)
    assert server.attributes["http.request_id"] == response.headers["x-request-id"]
    statements = statement_spans(spans)
    assert len(statements) >= 2  # the page and its count, at least (the key's lookup too)
    assert {s.parent.span_id for s in statements if s.parent} <= {
        s.context.span_id for s in spans.get_finished_spans()
    }


def test_tracing_is_off_by_default_and_records_nothing(
    database_url: str, key: str, spans: InMemorySpanExporter
) -> None:
    with TestClient(create_app(suite_settings(database_url))) as client:
        client.post("/graphql", json={"query": QUERY}, headers={"ApiKey": key})
        client.post("/api/whatsapp-log/count", json={}, headers={"ApiKey": key})
    assert spans.get_finished_spans() == ()


def test_serve_exports_spans_where_otel_traces_exporter_says(database_url: str, key: str) -> None:
    environment = {
        "OTEL_TRACES_EXPORTER": "console",
        "OTEL_SERVICE_NAME": "whatsapp-logs-test",
        "OTEL_BSP_SCHEDULE_DELAY": "100",  # milliseconds between the batch processor's exports
    }
    with serve_process(database_url, **environment) as (url, process):
        request = urllib.request.Request(
            url + "/graphql", data=json.dumps({"query": QUERY}).encode(),
            headers={"ApiKey": key, "Content-Type": "application/json"},
        )  # fmt: skip
        with urllib.request.urlopen(request, timeout=10) as answer:
            assert b'"errors"' not in answer.read()
        # The server's standard output is serve_process's log file.
        output = Path(os.readlink(f"/proc/{process.pid}/fd/1"))
        deadline = time.monotonic() + 10
        while "POST /graphql Logs" not in output.read_text() and time.monotonic() < deadline:
            time.sleep(0.1)
        printed = output.read_text()
    assert "POST /graphql Logs" in printed
    assert '"service.name": "whatsapp-logs-test"' in printed


def test_an_exporter_the_server_does_not_know_is_one_line_before_it_starts(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("OTEL_TRACES_EXPORTER", "jaeger")
    assert main(["serve"]) != 0
    [line] = capsys.readouterr().err.strip().splitlines()
    assert "OTEL_TRACES_EXPORTER" in line and "'jaeger'" in line
