"""Subscriptions through a real client against `graphql-api serve`: the `graphql-ws` npm client in Node
(tests/live_client, installed by `npm ci` there, which .ci/run does). The stream sends what is written,
resumes from its cursor, and is closed with 1012 when the server shuts down."""

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
from tests.live import serve_process, skip_loudly, stop

CLIENT = Path(__file__).parent / "live_client"


@pytest.fixture
def node(request: pytest.FixtureRequest) -> str:
    found = shutil.which("node")
    if found is None:
        skip_loudly(request, "node is not installed: the graphql-ws client test cannot run")
    if not (CLIENT / "node_modules" / "graphql-ws").is_dir():
        skip_loudly(request, "tests/live_client has no node_modules: run `npm ci` there (.ci/run does)")
    return found


class Client:
    """`node stream.mjs`: one JSON line per event, read by a thread so that every wait has a timeout."""

    def __init__(self, node: str, url: str, key: str, variables: dict[str, Any] | None = None) -> None:
        ws_url = url.replace("http://", "ws://") + "/graphql"
        command = [node, str(CLIENT / "stream.mjs"), ws_url, key, json.dumps(variables or {})]
        self.process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
        self.lines: queue.Queue[dict[str, Any]] = queue.Queue()
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

    def batch(self) -> dict[str, Any]:
        event = self.event()
        assert "next" in event, event
        batch: dict[str, Any] = event["next"]["data"]["whatsAppLogStream"]
        return batch

    def logs(self, count: int) -> tuple[list[str], str]:
        ids: list[str] = []
        cursor = ""
        while len(ids) < count:
            batch = self.batch()
            ids += [log["id"] for log in batch["logs"]]
            cursor = batch["cursor"]
        return ids, cursor

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
        assert sorted(got + rest) == sorted(written)  # nothing lost, nothing twice

        stop(server)  # SIGTERM: the socket is closed with 1012 (Service Restart), which clients retry
        assert resumed.event() == {"closed": {"code": 1012, "reason": ""}}
