"""The fast lane (http/fast_lane.py): a GraphQL POST repeated byte for byte is answered before the app's
layers, with the same answer, the same checks and the same request id, metrics and log line."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.testclient import TestClient

from graphql_api.data import queries, writes
from graphql_api.data.auth import hash_secret
from graphql_api.http.app import create_app
from graphql_api.settings import Settings
from tests.factories import Factory
from tests.test_observability import access_lines, scrape, total

PAGE = {
    "query": "query Page($n: Int!) { whatsAppLogs(limit: $n) { id status incident { title } } }",
    "variables": {"n": 2},
}
BODY = json.dumps(PAGE).encode()
# What a plain client sends (no Accept-Encoding: httpx adds one unless told otherwise).
PLAIN = {"Content-Type": "application/json"}


@pytest.fixture
def lane_client(settings: Settings) -> Iterator[TestClient]:
    app = create_app(settings.with_(compiled_execution=True))  # the lane serves the compiled path
    with TestClient(app) as client:
        del client.headers["accept-encoding"]
        yield client


@pytest.fixture
def project(factory: Factory) -> str:
    project = factory.project("Lane")
    factory.logs(project, 3, incident_id=factory.related("incident", project, "Outage"))
    return project


@pytest.fixture
def key(factory: Factory, project: str) -> str:
    return factory.api_key(project)


def answered_at_the_edge(client: TestClient) -> int:
    lane = client.app.lane  # type: ignore[attr-defined]
    return int(lane.answered)


def post(client: TestClient, key: str | None, body: bytes = BODY, **headers: str) -> httpx.Response:
    sent = {**PLAIN, **headers}
    if key is not None:
        sent["ApiKey"] = key
    return client.post("/graphql", content=body, headers=sent)


def answer(response: httpx.Response) -> tuple[int, dict[str, str], bytes]:
    """Status, headers but the request id, body."""
    headers = {k: v for k, v in response.headers.items() if k != "x-request-id"}
    return response.status_code, headers, response.content


@pytest.mark.parametrize("accept", [None, "application/graphql-response+json", "application/json"])
def test_a_repeated_request_is_answered_at_the_edge_as_the_app_answers_it(
    lane_client: TestClient, key: str, accept: str | None
) -> None:
    extra = {"Accept": accept} if accept else {}
    first, second = post(lane_client, key, **extra), post(lane_client, key, **extra)  # pipeline, view's
    assert answered_at_the_edge(lane_client) == 0
    third = post(lane_client, key, **extra)

    assert answered_at_the_edge(lane_client) == 1
    assert answer(third) == answer(second) == answer(first)
    assert len(third.json()["data"]["whatsAppLogs"]) == 2
    assert len({r.headers["x-request-id"] for r in (first, second, third)}) == 3


def test_the_same_bytes_with_another_projects_key_answer_that_projects_logs(
    lane_client: TestClient, factory: Factory, key: str
) -> None:
    other = factory.project("Other")
    factory.logs(other, 1, incident_id=factory.related("incident", other, "Other outage"))
    other_key = factory.api_key(other)
    for _ in range(3):
        mine = post(lane_client, key).json()["data"]["whatsAppLogs"]
    theirs = post(lane_client, other_key).json()["data"]["whatsAppLogs"]

    assert answered_at_the_edge(lane_client) == 2
    assert [log["incident"]["title"] for log in theirs] == ["Other outage"]
    assert {log["id"] for log in mine}.isdisjoint(log["id"] for log in theirs)


def test_a_key_revoked_after_its_requests_were_learned_is_refused(
    lane_client: TestClient, factory: Factory, project: str
) -> None:
    revoked = factory.api_key(project)
    for _ in range(3):
        assert post(lane_client, revoked).status_code == 200
    key_row = factory.run(lambda conn: queries.find_api_key(conn, secret_hash=hash_secret(revoked)))
    factory.run(lambda conn: writes.revoke_api_key(conn, key_id=key_row.id))

    body = post(lane_client, revoked).json()
    assert body["data"] is None
    assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"
    assert post(lane_client, None).json()["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED"


@pytest.mark.parametrize("overrides", [{"rate_limit_per_second": 0.001, "rate_limit_burst": 4}])
def test_every_request_on_the_lane_takes_one_rate_limit_token(lane_client: TestClient, key: str) -> None:
    statuses = [post(lane_client, key).status_code for _ in range(5)]

    # Two through the app, two on the lane: the burst is spent, and the fifth is refused.
    assert answered_at_the_edge(lane_client) == 2
    assert statuses == [200, 200, 200, 200, 429]


@pytest.mark.parametrize("accept", ["application/graphql-response+json", "application/json"])
def test_a_timeout_on_the_lane_is_answered_as_the_app_answers_one(
    lane_client: TestClient, settings: Settings, key: str, accept: str
) -> None:
    for _ in range(2):
        post(lane_client, key, Accept=accept)
    # Learned; now its time limit is past before it ends (the lane holds REQUEST_TIMEOUT_SECONDS).
    lane_client.app.lane.timeout = 1e-9  # type: ignore[attr-defined]
    on_the_lane = post(lane_client, key, Accept=accept)

    assert answered_at_the_edge(lane_client) == 1
    with TestClient(create_app(settings.with_(request_timeout_seconds=1e-9))) as app_client:
        del app_client.headers["accept-encoding"]
        through_the_app = post(app_client, key, Accept=accept)
    assert on_the_lane.json()["errors"][0]["extensions"]["code"] == "TIMEOUT"
    assert answer(on_the_lane) == answer(through_the_app)


def test_the_lane_keeps_the_request_id_metrics_and_log_line(
    lane_client: TestClient, key: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="graphql_api.access")
    for n in range(3):
        response = post(lane_client, key, **{"X-Request-Id": f"lane-{n}"})
        assert response.headers["x-request-id"] == f"lane-{n}"
    assert answered_at_the_edge(lane_client) == 1

    lines = access_lines(caplog)
    assert [line["request_id"] for line in lines] == ["lane-0", "lane-1", "lane-2"]
    assert {(line["route"], line["operation"], line["status"], line["outcome"]) for line in lines} == {
        ("/graphql", "Page", 200, "ok")
    }
    assert len({line["key_id"] for line in lines}) == 1 and lines[0]["key_id"]
    samples = scrape(lane_client)
    assert total(samples, "graphql_api_requests_total", route="/graphql", operation="Page", outcome="ok") == 3


@pytest.mark.parametrize(
    "headers",
    [
        {"Origin": "https://dashboard.example"},  # CORS answers it
        {"Content-Type": "application/json; charset=latin-1"},  # the app refuses it
    ],
)
def test_requests_some_layer_answers_go_through_the_app(
    lane_client: TestClient, key: str, headers: dict[str, str]
) -> None:
    answers = [post(lane_client, key, **headers) for _ in range(3)]

    assert answered_at_the_edge(lane_client) == 0
    assert len({(a.status_code, a.content) for a in answers[1:]}) == 1


@pytest.mark.parametrize("encoding", ["gzip", "br", "identity"])
def test_answers_on_the_lane_are_compressed_as_the_app_compresses_them(
    lane_client: TestClient, factory: Factory, project: str, key: str, encoding: str
) -> None:
    factory.logs(project, 30)  # an answer past COMPRESSION_MIN_BYTES
    big = json.dumps({**PAGE, "variables": {"n": 30}}).encode()
    answers = [post(lane_client, key, big, **{"Accept-Encoding": encoding}) for _ in range(3)]

    assert answered_at_the_edge(lane_client) == 1
    assert answer(answers[2]) == answer(answers[1])
    assert answers[2].headers.get("content-encoding") == (None if encoding == "identity" else encoding)
    assert len(answers[2].json()["data"]["whatsAppLogs"]) == 30


def test_a_body_the_lane_never_saw_or_a_different_one_goes_through_the_app(
    lane_client: TestClient, key: str
) -> None:
    for _ in range(3):
        post(lane_client, key)
    spaced = BODY.replace(b'"query":', b'"query" :')
    other: dict[str, Any] = {**PAGE, "variables": {"n": 1}}

    assert len(post(lane_client, key, spaced).json()["data"]["whatsAppLogs"]) == 2
    assert len(post(lane_client, key, json.dumps(other).encode()).json()["data"]["whatsAppLogs"]) == 1
    assert answered_at_the_edge(lane_client) == 1


@pytest.mark.parametrize("overrides", [{"fast_lane": False}])
def test_the_lane_can_be_turned_off(lane_client: TestClient, key: str) -> None:
    assert lane_client.app.lane is None  # type: ignore[attr-defined]
    answers = [post(lane_client, key) for _ in range(3)]
    assert len({a.content for a in answers}) == 1
