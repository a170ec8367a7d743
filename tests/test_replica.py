"""A real streaming replica: the test's scratch cluster and a hot standby made of it with pg_basebackup,
the server reading from the standby (DATABASE_READ_URL) while the CLI writes to the primary
(DATABASE_URL). What the primary gets is served once replicated; a read cancelled by a conflict with
replay is SERVICE_UNAVAILABLE (retry); promoting the standby and stopping the old primary goes by
without an error. Skipped without TEST_DATABASE_URL, as the other PostgreSQL tests.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import EXECUTION_PATH
from tests.databases import NO_POSTGRESQL, admin_url
from tests.factories import Factory
from tests.fault_load import QUERY, Load, Server, assert_survived, serving
from tests.live import skip_loudly
from tests.scratch_cluster import Cluster, scratch_cluster, scratch_standby, why_not

READER, PASSWORD = "reader", "reader-password"
COMPILED = "true" if EXECUTION_PATH == "compiled" else "false"
# Replication on one machine takes milliseconds; this only bounds a test that would otherwise hang.
REPLICATED_SECONDS = 10.0


@dataclass
class Replicated:
    primary: Cluster
    standby: Cluster
    project: str
    key: str

    def serving(self, directory: Path) -> AbstractContextManager[Server]:
        """The server: reads on the standby, DATABASE_URL on the primary, both as the reader role."""
        return serving(
            self.primary.url("app", READER, PASSWORD),
            directory,
            DATABASE_READ_URL=self.standby.url("app", READER, PASSWORD),
            COMPILED_EXECUTION=COMPILED,
        )


@pytest.fixture
def replicated(request: pytest.FixtureRequest) -> Iterator[Replicated]:
    if admin_url() is None:
        pytest.skip(NO_POSTGRESQL)
    if reason := why_not():
        skip_loudly(request, reason)
    with scratch_cluster() as primary:
        url = primary.create_database("app")
        primary.create_reader("app", READER, PASSWORD)
        with Factory(url) as factory:
            project = factory.project()
            factory.logs(project, 20)
            key = factory.api_key(project)
        # Cancel a read that conflicts with replay at once (the default waits 30 s), and do not tell
        # the primary what the standby reads (feedback would spare those reads).
        with scratch_standby(primary, max_standby_streaming_delay=0, hot_standby_feedback="off") as standby:
            yield Replicated(primary, standby, project, key)


def cli(url: str, *args: str) -> str:
    """`graphql-api` against `url`; its output (it must succeed)."""
    done = subprocess.run(
        [sys.executable, "-m", "graphql_api", "--database-url", url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env={**os.environ, "LOG_FORMAT": "text"},
        check=False,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _count(server: Server, key: str) -> int | None:
    response = httpx.post(f"{server.url}/graphql", json={"query": QUERY}, headers={"ApiKey": key}, timeout=10)
    body = response.json()
    return None if body.get("errors") else int(body["data"]["whatsAppLogCount"])


def _served_after(server: Server, key: str, *, logs: int) -> float:
    """Seconds until a request with `key` is answered with `logs` logs (bounded)."""
    started = time.monotonic()
    while _count(server, key) != logs:
        assert time.monotonic() - started < REPLICATED_SECONDS, "not replicated"
        time.sleep(0.005)
    return time.monotonic() - started


def _sessions(cluster: Cluster) -> int:
    query = "SELECT count(*) AS n FROM pg_stat_activity WHERE application_name = 'graphql_api'"
    return int(cluster.sql(query, database="postgres")[0]["n"])


def test_what_the_primary_gets_is_served_from_the_replica_once_replicated(
    replicated: Replicated, tmp_path: Path
) -> None:
    primary, standby = replicated.primary, replicated.standby
    with replicated.serving(tmp_path) as server:
        assert _count(server, replicated.key) == 20

        # A key made with the CLI on the primary: refused (UNAUTHENTICATED) until the standby has it.
        output = cli(
            primary.url("app"),
            "api-key",
            "create",
            "--project-id",
            replicated.project,
            "--permission",
            "ReadWhatsAppLog",
        )
        key_lag = _served_after(server, output.strip().splitlines()[-1], logs=20)

        with Factory(primary.url("app")) as factory:
            factory.logs(replicated.project, 5)
        log_lag = _served_after(server, replicated.key, logs=25)

        # Every read went to the standby; the primary never saw the server.
        assert _sessions(standby) > 0
        assert _sessions(primary) == 0
        assert server.errors_logged() == []
    print(f"\nreplication lag seen by a client: key {key_lag * 1000:.0f} ms, logs {log_lag * 1000:.0f} ms")


def test_a_read_cancelled_by_a_conflict_with_replay_is_service_unavailable(
    replicated: Replicated, tmp_path: Path
) -> None:
    primary = replicated.primary
    with replicated.serving(tmp_path) as server, Load(server.url, replicated.key) as load:
        load.wait_until("ok", since=time.monotonic(), timeout=30)
        started = time.monotonic()
        # An ACCESS EXCLUSIVE lock on the primary is replayed on the standby, which then cancels every
        # read holding the tables (40001 "canceling statement due to conflict with recovery").
        # A conflict needs a read in flight when the lock is replayed: on a loaded machine that can take a
        # while (one CI run saw none in 20 s; alone it comes within a second or two).
        # A read cancelled on the compiled path may be answered by the regular path, run again, when the
        # replay is done by then: lock again until a client gets the cancellation as its answer.
        deadline = started + 60
        while not any("SERVICE_UNAVAILABLE" in a.outcome for a in load.sent_between(started)):
            assert time.monotonic() < deadline, "no read was cancelled by replay"
            primary.script(
                "BEGIN; LOCK whatsapp_log, api_key IN ACCESS EXCLUSIVE MODE; COMMIT", database="app"
            )
            time.sleep(0.05)
        repaired = time.monotonic()
        result = assert_survived(
            load, server, started=started, repaired=repaired, expected=frozenset({"SERVICE_UNAVAILABLE"})
        )
    assert any("SERVICE_UNAVAILABLE" in outcome for outcome in result.during)
    print(f"\nreplay conflicts: {result.during}")


def test_promoting_the_replica_and_stopping_the_old_primary_is_survived(
    replicated: Replicated, tmp_path: Path
) -> None:
    primary, standby = replicated.primary, replicated.standby
    with replicated.serving(tmp_path) as server, Load(server.url, replicated.key) as load:
        load.wait_until("ok", since=time.monotonic(), timeout=30)
        started = time.monotonic()
        standby.promote()
        primary.stop("fast")
        repaired = time.monotonic()
        time.sleep(1)  # clients keep reading from the new primary
        result = assert_survived(
            load, server, started=started, repaired=repaired, expected=frozenset({"SERVICE_UNAVAILABLE"})
        )
        # The old primary is gone: a key is made on the new one (the operator moved DATABASE_URL) and
        # works at once, the server reading where it is written now.
        output = cli(
            standby.url("app"),
            "api-key",
            "create",
            "--project-id",
            replicated.project,
            "--permission",
            "ReadWhatsAppLog",
        )
        assert _count(server, output.strip().splitlines()[-1]) == 20
    after = load.sent_between(repaired)
    assert after and all(answer.outcome == "ok" for answer in after)
    print(f"\npromotion: recovered in {result.recovery_seconds:.2f} s; during {result.during}")
