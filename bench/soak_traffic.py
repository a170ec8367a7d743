"""The soak's traffic: clients sending the mix of requests and recording every answer, the CLI writer
importing logs and counting those it was told were imported, and the server they talk to."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.scratch_cluster import free_port

KINDS = ("page", "connection", "count", "stats", "rest_list", "rest_count", "readyz")
DOCUMENTS = {
    "page": "{ whatsAppLogs(limit: 20) { id status createdAt toNumber } }",
    "connection": "{ whatsAppLogsConnection(first: 10) { edges { cursor node { id } } } }",
    "count": "{ whatsAppLogCount }",
    "stats": "{ whatsAppLogStats(groupBy: [STATUS]) { status count totalCostInUSDCents } }",
}
SERVER_ENV = {
    "WORKERS": "2",
    "POOL_SIZE": "3",
    "MAX_OVERFLOW": "2",
    "CONNECT_TIMEOUT": "2",
    "POOL_TIMEOUT": "2",
    "AUTH_CACHE_SECONDS": "0",
    "LOG_FORMAT": "json",
    "LOG_LEVEL": "warning",
    "GRAPHIQL": "false",
}


@dataclass(frozen=True)
class Answer:
    kind: str
    sent: float
    took: float
    outcome: str  # ok, error codes joined by +, http <status>, or "no answer"


class Load:
    """Client threads sending the mix back to back; each answer recorded."""

    def __init__(self, url: str, key: str, clients: int) -> None:
        self.url, self.key = url, key
        self.answers: list[Answer] = []
        self.lock = threading.Lock()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)]

    def __enter__(self) -> Load:
        for thread in self.threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout=30)

    def _client(self, index: int) -> None:
        step = index
        with httpx.Client(base_url=self.url, timeout=20) as client:
            while not self.stop.is_set():
                kind = KINDS[step % len(KINDS)]
                step += 1
                sent = time.monotonic()
                outcome = self._ask(client, kind)
                with self.lock:
                    self.answers.append(Answer(kind, sent, time.monotonic() - sent, outcome))

    def _ask(self, client: httpx.Client, kind: str) -> str:
        headers = {"ApiKey": self.key}
        try:
            if kind in DOCUMENTS:
                response = client.post("/graphql", json={"query": DOCUMENTS[kind]}, headers=headers)
                codes = sorted({e["extensions"]["code"] for e in response.json().get("errors", [])})
                return "+".join(codes) or (
                    "ok" if response.status_code == 200 else f"http {response.status_code}"
                )
            if kind == "readyz":
                response = client.get("/readyz")
            else:
                path = "get-list" if kind == "rest_list" else "count"
                response = client.post(f"/api/whatsapp-log/{path}", json={"limit": 20}, headers=headers)
            return {200: "ok", 503: "SERVICE_UNAVAILABLE", 504: "TIMEOUT"}.get(
                response.status_code, f"http {response.status_code}"
            )
        except (httpx.HTTPError, ValueError):
            return "no answer"

    def since(self, start: float, end: float = float("inf")) -> list[Answer]:
        with self.lock:
            return [a for a in self.answers if start <= a.sent < end]


class Writer:
    """Imports a small file with the CLI, again and again; counts the logs of every import that said it
    was done (exit 0), which the database must then have."""

    def __init__(self, url: str, project: str, directory: Path, lines: int = 200) -> None:
        self.url, self.project = url, project
        self.file = directory / "writer.jsonl"
        with self.file.open("w") as out:
            for i in range(lines):
                out.write(
                    json.dumps({"toNumber": f"+1-555-{i:07d}", "status": "Sent", "whatsAppCostInUSDCents": i})
                    + "\n"
                )
        self.lines = lines
        self.acknowledged = 0
        self.failed = 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> Writer:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.stop.set()
        self.thread.join(timeout=120)

    def _run(self) -> None:
        while not self.stop.wait(1.0):
            command = [
                sys.executable,
                "-m",
                "graphql_api",
                "--database-url",
                self.url,
                "import",
                str(self.file),
            ]
            done = subprocess.run(
                [*command, "--project-id", self.project], capture_output=True, timeout=120, check=False
            )
            if done.returncode == 0:
                self.acknowledged += self.lines
            else:
                self.failed += 1


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def workers(self) -> list[int]:
        pid = self.process.pid
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        return [int(c) for c in children if b"spawn_main" in Path(f"/proc/{c}/cmdline").read_bytes()]

    def error_lines(self) -> list[str]:
        found = []
        for line in self.log.read_text(errors="replace").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                found.append(line)
                continue
            if entry.get("level") in ("error", "critical") or "exception" in entry:
                found.append(line)
        return found


@contextmanager
def serving(url: str, directory: Path) -> Iterator[Server]:
    port = free_port()
    log = directory / "serve.log"
    environ = {**os.environ, **SERVER_ENV, "DATABASE_URL": url}
    with log.open("wb") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "graphql_api", "serve", "--port", str(port)],
            env=environ,
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    server = Server(f"http://127.0.0.1:{port}", process, log)
    try:
        deadline = time.monotonic() + 60
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"serve exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("serve did not start")
            time.sleep(0.2)
        yield server
    finally:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
