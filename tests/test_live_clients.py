"""Subscriptions through real clients against `graphql-api serve`, in Node (tests/live_client, installed
by `npm ci` there, which .ci/run does): the `graphql-ws` npm client, and Apollo Client with
`GraphQLWsLink` and an `InMemoryCache`. The stream sends what is written, resumes from its cursor, refuses
a bad one, never sends another project's logs, and is closed with 1012 when the server shuts down."""

from __future__ import annotations

import json
import queue
import shutil
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.factories import Factory
from tests.live import serve, serve_process, skip_loudly, stop

CLIENT = Path(__file__).parent / "live_client"
GRAPHQL_WS = "stream.mjs"
APOLLO = "apollo.mjs"


def node_with(request: pytest.FixtureRequest, package: str) -> str:
    """The path of `node`, once tests/live_client has `package` installed."""
    found = shutil.which("node")
    if found is None:
        skip_loudly(request, f"node is not installed: the {package} client test cannot run")
    if not (CLIENT / "node_modules" / package).is_dir():
        skip_loudly(request, f"tests/live_client has no {package}: run `npm ci` there (.ci/run does)")
    return found


@pytest.fixture
def node(request: pytest.FixtureRequest) -> str:
    return node_with(request, "graphql-ws")


@pytest.fixture
def apollo_node(request: pytest.FixtureRequest) -> str:
    return node_with(request, "@apollo/client")


def ids(logs: list[dict[str, Any]]) -> list[str]:
    return [log["id"] for log in logs]


class Client:
    """`node <script>` (a script of tests/live_client): one JSON line per event, read by a thread so that
    every wait has a timeout."""

    def __init__(
        self,
        node: str,
        url: str,
        key: str,
        variables: dict[str, Any] | None = None,
        *,
        script: str = GRAPHQL_WS,
    ) -> None:
        ws_url = url.replace("http://", "ws://") + "/graphql"
        command = [node, str(CLIENT / script), ws_url, key, json.dumps(variables or {})]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
        # Apollo's script lists its cache's normalised entries after each message.
        self.cached: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            try:
                self.lines.put(json.loads(line))
            except ValueError:
                self.lines.put({"output": line})

    def event(self, seconds: float = 15) -> dict[str, Any]:
        return self.lines.get(timeout=seconds)

    def nothing(self, seconds: float) -> None:
        """No event within `seconds`."""
        try:
            event = self.lines.get(timeout=seconds)
        except queue.Empty:
            return
        raise AssertionError(f"expected no event, got {event}")

    def batch(self) -> dict[str, Any]:
        event = self.event()
        assert "next" in event, event
        self.cached = event.get("cached", [])
        batch: dict[str, Any] = event["next"]["data"]["whatsAppLogStream"]
        return batch

    def logs(self, count: int) -> tuple[list[dict[str, Any]], str]:
        """Messages until they hold `count` logs: the logs, and the last message's cursor."""
        logs: list[dict[str, Any]] = []
        cursor = ""
        while len(logs) < count:
            batch = self.batch()
            logs += batch["logs"]
            cursor = batch["cursor"]
        return logs, cursor

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()


@pytest.fixture
def clients() -> Iterator[list[Client]]:
    made: list[Client] = []
    yield made
    for client in made:
        client.close()


def test_the_graphql_ws_client_tails_resumes_and_is_completed_at_shutdown(
    node: str, database_url: str, factory: Factory, clients: list[Client]
) -> None:
    project = factory.project("Live")
    key = factory.api_key(project)
    with serve_process(database_url) as (url, server):
        client = Client(node, url, key, {"batchSize": 2})
        clients.append(client)
        assert client.batch()["logs"] == []  # the first message, at once
        written = factory.logs(project, 3)
        got, cursor = client.logs(2)
        client.close()

        written += factory.logs(project, 2)  # while disconnected
        resumed = Client(node, url, key, {"batchSize": 2, "after": cursor})
        clients.append(resumed)
        rest, _ = resumed.logs(3)
        assert sorted(ids(got + rest)) == sorted(written)  # nothing lost, nothing twice

        stop(server)  # SIGTERM: the socket is closed with 1012 (Service Restart), which clients retry
        assert resumed.event() == {"closed": {"code": 1012, "reason": ""}}


def test_apollo_client_tails_normalises_relations_and_resumes(
    apollo_node: str, database_url: str, factory: Factory, clients: list[Client]
) -> None:
    project = factory.project("Live")
    key = factory.api_key(project)
    incident = factory.related("incident", project, "Checkout is down")
    with serve(database_url) as url:
        client = Client(apollo_node, url, key, {"batchSize": 2}, script=APOLLO)
        clients.append(client)
        assert client.batch()["logs"] == []  # the first message, at once
        written = factory.logs(project, 3, incident_id=incident)
        got, cursor = client.logs(2)
        # Apollo asks for __typename everywhere and keys its cache by it and the id.
        assert [log["incident"] for log in got] == [
            {"__typename": "Incident", "id": incident, "title": "Checkout is down"}
        ] * 2
        assert {f"Incident:{incident}", *(f"WhatsAppLog:{log['id']}" for log in got)} <= set(client.cached)
        client.close()

        written += factory.logs(project, 2)  # while disconnected
        resumed = Client(apollo_node, url, key, {"batchSize": 2, "after": cursor}, script=APOLLO)
        clients.append(resumed)
        rest, _ = resumed.logs(3)
        assert sorted(ids(got + rest)) == sorted(written)  # nothing lost, nothing twice
        resumed.nothing(0.5)


def test_apollo_client_gets_a_bad_cursor_or_batch_size_as_bad_user_input(
    apollo_node: str, database_url: str, factory: Factory, clients: list[Client]
) -> None:
    key = factory.api_key(factory.project("Live"))
    with serve(database_url) as url:
        # A bad cursor is a `next` carrying the error; a bad batchSize, refused before the stream runs, is
        # graphql-transport-ws's `error` message, which GraphQLWsLink handles apart.
        for variables in ({"after": "nonsense"}, {"batchSize": 0}):
            client = Client(apollo_node, url, key, variables, script=APOLLO)
            clients.append(client)
            event = client.event()
            assert "error" in event, event
            assert [error["extensions"]["code"] for error in event["error"]["errors"]] == ["BAD_USER_INPUT"]
            assert client.event() == {"complete": True}


def test_apollo_client_never_gets_another_projects_logs(
    apollo_node: str, database_url: str, factory: Factory, clients: list[Client]
) -> None:
    project, other = factory.project("Live"), factory.project("Other")
    key = factory.api_key(project)
    with serve(database_url) as url:
        client = Client(apollo_node, url, key, script=APOLLO)
        clients.append(client)
        assert client.batch()["logs"] == []
        factory.logs(other, 3, incident_id=factory.related("incident", other, "Not yours"))
        mine = factory.logs(project, 1)  # committed after the other project's: they would come first
        got, _ = client.logs(1)
        assert ids(got) == mine
        client.nothing(0.5)
        assert not any(entry.startswith("Incident:") for entry in client.cached)
