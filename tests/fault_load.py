"""A real `graphql-api serve` under a steady mix of requests while a test breaks its database.

Every answer is recorded with when it was asked and how long it took, so that a test can say what
clients saw while the fault lasted and how soon after it they were served again; the server's log
(JSON lines) is kept to check that an expected fault is a warning, never an error.
"""

from __future__ import annotations

import json
import os
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from tests.live import SERVE, free_port, stop
from tests.suite import SUITE_ENV

STARTUP_SECONDS = 60.0
# Clients see the database again this soon after it is back (the bound).
RECOVERY_SECONDS = 5.0
# No answer may take longer than this, fault or not: REQUEST_TIMEOUT_SECONDS, plus a margin.
ANSWER_SECONDS = 12.0
# Both root fields the compiled path covers; the count cannot be null, so a failure nulls `data`.
QUERY = "{ whatsAppLogCount whatsAppLogs(limit: 5) { id status } }"
KINDS = ("graphql", "rest", "readyz")
FAULT_CODES = frozenset({"SERVICE_UNAVAILABLE", "TIMEOUT"})
_REST_CODES = {200: "ok", 503: "SERVICE_UNAVAILABLE", 504: "TIMEOUT"}


@dataclass
class Server:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def log_entries(self) -> list[dict[str, Any]]:
        """The log's lines (JSON, one object each; another line as an `unparsed` entry). A last line
        with no newline yet is still being written by the running server, and is left for the next read."""
        entries = []
        *lines, _unfinished = self.log.read_text(errors="replace").split("\n")
        for line in lines:
            try:
                entries.append(json.loads(line))
            except ValueError:
                entries.append({"level": "unparsed", "message": line})
        return entries

    def errors_logged(self) -> list[dict[str, Any]]:
        """Entries at error level or above, with a stack trace, or not JSON (a bare traceback)."""
        return [
            entry
            for entry in self.log_entries()
            if entry.get("level") in ("error", "critical", "unparsed") or "exception" in entry
        ]

    def warnings_logged(self) -> list[str]:
        return [entry["message"] for entry in self.log_entries() if entry.get("level") == "warning"]


@contextmanager
def serving(database_url: str, directory: Path, **env: str) -> Iterator[Server]:
    """`graphql-api serve` on a free loopback port, its output in `directory`/serve.log."""
    log = directory / "serve.log"
    environ = {
        **os.environ,
        **SUITE_ENV,  # no key cache: every request needs the database, its key lookup included
        "DATABASE_URL": database_url,
        "CONNECT_TIMEOUT": "2",
        "POOL_TIMEOUT": "2",
        "LOG_FORMAT": "json",
        **env,
    }
    for _ in range(3):
        port = free_port()
        with log.open("wb") as out:
            process = subprocess.Popen(
                [*SERVE, "--port", str(port)], env=environ, stdout=out, stderr=subprocess.STDOUT
            )
        server = Server(f"http://127.0.0.1:{port}", process, log)
        try:
            if _healthy(server):
                break
        except BaseException:
            stop(process)
            raise
        stop(process)
    else:
        raise RuntimeError(f"graphql-api serve did not start:\n{log.read_text()}")
    try:
        yield server
    finally:
        stop(process)


def _healthy(server: Server) -> bool:
    """True once /healthz answers; False when the port was taken; raises when the server died."""
    deadline = time.monotonic() + STARTUP_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            output = server.log.read_text()
            if "address already in use" in output.lower():
                return False
            raise RuntimeError(f"graphql-api serve exited with {server.process.returncode}:\n{output}")
        try:
            if httpx.get(f"{server.url}/healthz", timeout=1).status_code == 200:
                return True
        except httpx.HTTPError:
            time.sleep(0.1)
    raise RuntimeError(f"graphql-api serve did not answer in {STARTUP_SECONDS} s:\n{server.log.read_text()}")


@dataclass(frozen=True)
class Answer:
    kind: str  # graphql, rest, readyz
    sent: float  # time.monotonic() when asked
    took: float
    outcome: str  # ok, an error code (several joined by +), `http <status>`, or `no answer: <why>`


def outcome(kind: str, response: httpx.Response) -> str:
    """`ok`, the answer's error codes, or its HTTP status when it is neither."""
    if kind != "graphql":
        return _REST_CODES.get(response.status_code, f"http {response.status_code}")
    codes = "+".join(sorted({e["extensions"]["code"] for e in response.json().get("errors", [])}))
    if response.status_code == 200:
        return codes or "ok"
    return codes or f"http {response.status_code}"


class Load:
    """`clients` threads sending GraphQL and REST requests back to back, and one asking /readyz every
    100 ms, until stopped."""

    def __init__(self, url: str, key: str, *, clients: int = 3) -> None:
        self.url = url
        self.key = key
        self.answers: list[Answer] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._threads = [
            threading.Thread(target=self._client, args=(i,), daemon=True) for i in range(clients)
        ]
        self._threads.append(threading.Thread(target=self._prober, daemon=True))

    def __enter__(self) -> Load:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stop.set()
        for thread in self._threads:
            thread.join(timeout=ANSWER_SECONDS + 5)

    def _ask(self, client: httpx.Client, kind: str, step: int) -> None:
        sent = time.monotonic()
        try:
            if kind == "graphql":
                response = client.post("/graphql", json={"query": QUERY}, headers={"ApiKey": self.key})
            elif kind == "rest":
                path = "/api/whatsapp-log/get-list" if step % 2 else "/api/whatsapp-log/count"
                response = client.post(path, json={"limit": 5}, headers={"ApiKey": self.key})
            else:
                response = client.get("/readyz")
            seen = outcome(kind, response)
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            seen = f"no answer: {type(exc).__name__}: {exc}"
        with self._lock:
            self.answers.append(Answer(kind, sent, time.monotonic() - sent, seen))

    def _client(self, index: int) -> None:
        with httpx.Client(base_url=self.url, timeout=ANSWER_SECONDS + 5) as client:
            step = index
            while not self._stop.is_set():
                self._ask(client, "graphql" if step % 3 else "rest", step)
                step += 1

    def _prober(self) -> None:
        with httpx.Client(base_url=self.url, timeout=ANSWER_SECONDS + 5) as client:
            while not self._stop.wait(0.1):
                self._ask(client, "readyz", 0)

    def sent_between(self, start: float, end: float = float("inf")) -> list[Answer]:
        with self._lock:
            return [a for a in self.answers if start <= a.sent < end]

    def wait_until(
        self, condition: str, *, since: float, timeout: float, kinds: tuple[str, ...] = KINDS
    ) -> float:
        """Seconds from `since` until each of `kinds` got an answer that is `condition` (`ok`, or
        `fault`: the fault codes only), to a request asked after `since`; AssertionError past `timeout`."""
        deadline = since + timeout
        while True:
            firsts: dict[str, float] = {}
            for answer in self.sent_between(since):
                wanted = answer.outcome == "ok" if condition == "ok" else _is_fault(answer)
                if wanted and answer.kind in kinds and answer.kind not in firsts:
                    firsts[answer.kind] = answer.sent + answer.took
            if len(firsts) == len(kinds):
                return max(firsts.values()) - since
            if time.monotonic() > deadline:
                missing = sorted(set(kinds) - set(firsts))
                recent = [a for a in self.sent_between(since) if a.kind in missing][-5:]
                raise AssertionError(f"no {condition} answer for {missing} within {timeout} s: {recent}")
            time.sleep(0.05)


def _is_fault(answer: Answer) -> bool:
    return set(answer.outcome.split("+")) <= FAULT_CODES


@dataclass(frozen=True)
class FaultReport:
    during: dict[str, int]  # outcomes of the answers to requests asked while the fault lasted
    recovery_seconds: float  # from the repair until every kind of request was served again


def assert_survived(
    load: Load, server: Server, *, started: float, repaired: float, expected: frozenset[str]
) -> FaultReport:
    """Every answer from `started` on was `ok` or one of `expected` (a code each, never INTERNAL, a
    500, or none at all), none took past ANSWER_SECONDS, the log has warnings and no error, and the same
    process served every kind of request within RECOVERY_SECONDS of `repaired`."""
    recovery = load.wait_until("ok", since=repaired, timeout=RECOVERY_SECONDS)
    assert server.process.poll() is None, "the server exited"
    answers = load.sent_between(started)
    unexpected = [a for a in answers if a.outcome != "ok" and not set(a.outcome.split("+")) <= expected]
    assert unexpected == [], unexpected[:10]
    slow = [a for a in answers if a.took > ANSWER_SECONDS]
    assert slow == [], slow[:10]
    errors = server.errors_logged()  # read once: the running server goes on writing
    assert errors == [], errors[:5]
    during: dict[str, int] = {}
    for answer in load.sent_between(started, repaired):
        key = f"{answer.kind} {answer.outcome}"
        during[key] = during.get(key, 0) + 1
    return FaultReport(during, recovery)
