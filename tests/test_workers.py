"""`graphql-api serve --workers N` when processes die or are asked to stop.

A worker killed with SIGKILL fails only the requests it had in flight: uvicorn's supervisor starts a
replacement, the other worker and then both serve every request, and /metrics adds up the same
requests the clients got answers to, and the pools of the live workers only. SIGTERM drains: the requests in
flight are answered, new connections are refused, and the server exits 0.

Requests are held in flight by a lock on the logs' table, taken by the test (PostgreSQL, the run's
server): each one waits inside a worker, on a database connection the test can see.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families
from sqlalchemy.engine import make_url

from tests.conftest import EXECUTION_PATH
from tests.databases import PostgresServer
from tests.factories import Factory
from tests.fault_load import QUERY, Server, serving

IN_FLIGHT = 8
POOL_SIZE = 3
# In flight a while: long enough to act on the server while they wait, bounded by the time limit.
ENV = {
    "POOL_SIZE": str(POOL_SIZE),
    "MAX_OVERFLOW": "10",
    "REQUEST_WORK_SECONDS": "0",  # the lock wait is the point, not a budget to stop
    "STATEMENT_TIMEOUT_MS": "20000",
    "LOCK_TIMEOUT_MS": "0",
    "REQUEST_TIMEOUT_SECONDS": "20",
    "MAX_REQUESTS_PER_KEY": "0",  # every request of the one key in flight at once
    "COMPILED_EXECUTION": "true" if EXECUTION_PATH == "compiled" else "false",
}


@dataclass
class Target:
    url: str
    name: str
    key: str
    postgres: PostgresServer


@pytest.fixture
def target(postgres: PostgresServer) -> Iterator[Target]:
    url = postgres.create(migrated=True)
    with Factory(url) as factory:
        project = factory.project()
        factory.logs(project, 3)
        key = factory.api_key(project)
    try:
        yield Target(url, make_url(url).database or "", key, postgres)
    finally:
        postgres.drop(url)


def workers(server: Server) -> list[int]:
    """The worker processes of a server with several: the supervisor's children but its resource
    tracker."""
    pid = server.process.pid
    children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    return [int(c) for c in children if "spawn_main" in Path(f"/proc/{c}/cmdline").read_text()]


def database_ports(pid: int, database_port: int) -> set[int]:
    """The local ports of `pid`'s TCP connections to `database_port` (pg_stat_activity.client_port)."""
    inodes = set()
    for fd in Path(f"/proc/{pid}/fd").iterdir():
        try:
            link = os.readlink(fd)
        except OSError:
            continue
        if link.startswith("socket:["):
            inodes.add(link[len("socket:[") : -1])
    ports = set()
    for table in ("tcp", "tcp6"):
        for line in Path(f"/proc/{pid}/net/{table}").read_text().splitlines()[1:]:
            fields = line.split()
            local, remote, inode = fields[1], fields[2], fields[9]
            if inode in inodes and int(remote.rsplit(":", 1)[1], 16) == database_port:
                ports.add(int(local.rsplit(":", 1)[1], 16))
    return ports


@dataclass
class Sent:
    request_id: str
    status: int | None = None  # None: no answer (the connection was cut)
    error: str = ""


@contextmanager
def locked(target: Target) -> Iterator[asyncio.Runner]:
    """The logs' table locked by the test until the block ends: pages wait for it."""
    with asyncio.Runner() as runner:
        locker = runner.run(asyncpg.connect(target.postgres.dsn(target.name), timeout=10))
        runner.run(locker.execute("BEGIN; LOCK TABLE whatsapp_log IN ACCESS EXCLUSIVE MODE"))
        try:
            yield runner
        finally:
            runner.run(locker.execute("ROLLBACK"))
            runner.run(locker.close())


def waiting(target: Target) -> list[int]:
    """client_port of each server session waiting for the lock."""

    async def ask() -> list[int]:
        conn = await asyncpg.connect(target.postgres.dsn("postgres"), timeout=10)
        try:
            rows = await conn.fetch(
                "SELECT client_port FROM pg_stat_activity WHERE datname = $1 AND wait_event_type = 'Lock'"
                " AND application_name = 'graphql_api'",
                target.name,
            )
            return [row["client_port"] for row in rows]
        finally:
            await conn.close()

    return asyncio.run(ask())


def send_in_flight(url: str, key: str, prefix: str) -> tuple[list[Sent], list[threading.Thread]]:
    """IN_FLIGHT page requests, each on a connection of its own, in threads; their outcomes fill in."""
    sent = [Sent(f"{prefix}-{i}") for i in range(IN_FLIGHT)]

    def one(record: Sent) -> None:
        headers = {"ApiKey": key, "X-Request-Id": record.request_id, "Connection": "close"}
        try:
            response = httpx.post(f"{url}/graphql", json={"query": QUERY}, headers=headers, timeout=30)
            record.status = response.status_code
            assert "errors" not in response.json(), response.text
        except httpx.TransportError as exc:
            record.error = type(exc).__name__

    threads = [threading.Thread(target=one, args=(record,)) for record in sent]
    for thread in threads:
        thread.start()
    return sent, threads


def wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (result := condition()):
        assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
        time.sleep(0.05)
    return result


def metrics(server: Server) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    exposition = httpx.get(f"{server.url}/metrics", timeout=10).text
    return {
        (s.name, frozenset(s.labels.items())): s.value
        for family in text_string_to_metric_families(exposition)
        for s in family.samples
    }


def total(samples: dict[tuple[str, frozenset[tuple[str, str]]], float], name: str, **labels: str) -> float:
    return sum(
        value
        for (sample, sample_labels), value in samples.items()
        if sample == name and set(labels.items()) <= sample_labels
    )


def test_a_worker_killed_fails_only_its_requests_in_flight_and_is_replaced(
    target: Target, tmp_path: Path
) -> None:
    answered_graphql = 0
    with (
        serving(target.url, tmp_path, WORKERS="2", **ENV) as server,
        httpx.Client(base_url=server.url) as client,
    ):
        first = wait_for(lambda: len(workers(server)) == 2 and workers(server), 30, "two workers")
        for _ in range(10):
            assert client.post("/graphql", json={"query": QUERY}, headers={"ApiKey": target.key}).is_success
            answered_graphql += 1

        with locked(target):
            sent, threads = send_in_flight(server.url, target.key, "in-flight")
            ports = wait_for(
                lambda: len(waiting(target)) == IN_FLIGHT and waiting(target), 20, "requests wait"
            )
            by_worker = {pid: len(database_ports(pid, target.postgres.port) & set(ports)) for pid in first}
            assert sum(by_worker.values()) == IN_FLIGHT, by_worker
            victim = max(by_worker, key=lambda pid: by_worker[pid])
            os.kill(victim, signal.SIGKILL)
            killed_at = time.monotonic()
            time.sleep(0.2)
        for thread in threads:
            thread.join(timeout=30)

        failed = [s for s in sent if s.status is None]
        served = [s for s in sent if s.status is not None]
        # Exactly the requests the killed worker held failed, without an answer; the others were answered.
        assert len(failed) == by_worker[victim], (by_worker, sent)
        assert all(s.status == 200 for s in served), sent
        answered_graphql += len(served)

        # The supervisor replaces it; every request meanwhile and after is served.
        replaced = wait_for(
            lambda: len(set(workers(server)) - set(first)) == 1 and workers(server), 30, "a new worker"
        )
        assert victim not in replaced
        deadline = time.monotonic() + 30
        served_by: set[int] = set()
        while served_by != set(replaced):
            assert time.monotonic() < deadline, f"workers serving: {served_by}, alive: {replaced}"
            response = client.post(
                "/graphql", json={"query": QUERY}, headers={"ApiKey": target.key, "Connection": "close"}
            )
            assert response.status_code == 200 and "errors" not in response.json(), response.text
            answered_graphql += 1
            served_by = {e["pid"] for e in server.log_entries() if e.get("route") == "/graphql"} & set(
                replaced
            )

        replacement_serving = time.monotonic() - killed_at
        # Each worker writes its counts to the shared files within FLUSH_SECONDS of a request.
        samples = wait_for(
            lambda: (
                (s := metrics(server))
                and total(s, "graphql_api_requests_total", route="/graphql") >= answered_graphql
                and s
            ),
            5,
            "every answered request counted",
        )
        assert server.process.poll() is None
    # Counted once each, by the worker that answered: the killed worker's requests before it died
    # included, those it never answered not.
    assert total(samples, "graphql_api_requests_total", route="/graphql") == answered_graphql
    # The pools of the live workers only: a dead worker's gauges would count twice.
    assert total(samples, "graphql_api_db_pool_size", database="primary") == 2 * POOL_SIZE
    assert server.errors_logged() == []
    print(
        f"\nin flight per worker {by_worker}: killed {victim}, the replacement served"
        f" {replacement_serving:.2f} s later"
    )


@pytest.mark.parametrize("worker_count", [1, 2])
def test_sigterm_answers_the_requests_in_flight_refuses_new_ones_and_exits_0(
    target: Target, tmp_path: Path, worker_count: int
) -> None:
    with serving(target.url, tmp_path, WORKERS=str(worker_count), **ENV) as server:
        port = int(server.url.rsplit(":", 1)[1])
        wait_for(lambda: worker_count == 1 or len(workers(server)) == 2, 30, "workers")
        httpx.post(f"{server.url}/graphql", json={"query": QUERY}, headers={"ApiKey": target.key})
        with locked(target):
            sent, threads = send_in_flight(server.url, target.key, "drained")
            wait_for(lambda: len(waiting(target)) == IN_FLIGHT, 20, "requests wait")
            server.process.send_signal(signal.SIGTERM)
            terminated_at = time.monotonic()

            def refused() -> bool:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                except ConnectionRefusedError:
                    return True
                return False

            # New connections are refused while the requests in flight still wait.
            refused_after = wait_for(lambda: refused() and time.monotonic(), 10, "new connections refused")
            assert server.process.poll() is None, "exited before its requests were answered"
            assert len(waiting(target)) == IN_FLIGHT
        for thread in threads:
            thread.join(timeout=30)
        assert [s.status for s in sent] == [200] * IN_FLIGHT, sent
        assert server.process.wait(timeout=30) == 0
        stopped_after = time.monotonic()
    assert server.errors_logged() == []
    print(
        f"\nworkers={worker_count}: new connections refused {refused_after - terminated_at:.2f} s after"
        f" SIGTERM, requests in flight answered, exit 0 {stopped_after - refused_after:.2f} s later"
    )
