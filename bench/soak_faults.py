"""The soak's faults: each breaks the database or the server for `seconds`, then returns its repair."""

from __future__ import annotations

import asyncio
import os
import signal
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import asyncpg  # type: ignore[import-untyped]

from bench.soak_traffic import Server
from tests.scratch_cluster import Cluster

READER, PASSWORD = "soak_reader", "soak-password"


@dataclass
class Soak:
    cluster: Cluster
    server: Server
    database: str = "app"
    held: list[Any] = field(default_factory=list)
    runner: asyncio.Runner = field(default_factory=asyncio.Runner)

    def terminate(self, user: str | None = None, keep: Sequence[int] = ()) -> None:
        where = "usename = $1" if user else "datname = $1"
        self.cluster.sql(
            f"SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE {where}"
            " AND pid <> pg_backend_pid() AND pid <> ALL($2)",
            user or self.database,
            list(keep),
        )


def fault_terminate(soak: Soak, seconds: float) -> Callable[[], None]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        soak.terminate()
        time.sleep(0.1)
    return lambda: None


def fault_refuse(soak: Soak, seconds: float) -> Callable[[], None]:
    soak.cluster.sql(f"ALTER DATABASE {soak.database} ALLOW_CONNECTIONS false")
    soak.terminate()
    time.sleep(seconds)
    return lambda: soak.cluster.sql(f"ALTER DATABASE {soak.database} ALLOW_CONNECTIONS true")


def fault_lock(soak: Soak, seconds: float) -> Callable[[], None]:
    conn = soak.runner.run(asyncpg.connect(soak.cluster.dsn(soak.database), timeout=10))
    soak.runner.run(conn.execute("BEGIN; LOCK TABLE whatsapp_log IN ACCESS EXCLUSIVE MODE"))
    time.sleep(seconds)

    def repair() -> None:
        soak.runner.run(conn.execute("ROLLBACK"))
        soak.runner.run(conn.close())

    return repair


def fault_exhaust(soak: Soak, seconds: float) -> Callable[[], None]:
    dsn = soak.cluster.dsn(soak.database, READER, PASSWORD)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        while True:
            try:
                soak.held.append(soak.runner.run(asyncpg.connect(dsn, timeout=5)))
            except asyncpg.TooManyConnectionsError:
                break
        others = soak.cluster.sql(
            "SELECT pid FROM pg_stat_activity WHERE usename = $1 AND pid <> ALL($2)",
            READER,
            [c.get_server_pid() for c in soak.held],
        )
        if not others:
            break
        soak.terminate(READER, keep=[c.get_server_pid() for c in soak.held])
    time.sleep(seconds)

    def repair() -> None:
        while soak.held:
            soak.runner.run(soak.held.pop().close())

    return repair


def fault_password(soak: Soak, seconds: float) -> Callable[[], None]:
    soak.cluster.sql(f"ALTER ROLE {READER} PASSWORD 'rotated'")
    soak.terminate(READER)
    time.sleep(seconds)
    return lambda: soak.cluster.sql(f"ALTER ROLE {READER} PASSWORD '{PASSWORD}'")


def fault_restart(soak: Soak, seconds: float) -> Callable[[], None]:
    soak.cluster.stop("fast")
    time.sleep(seconds)
    return soak.cluster.start


def fault_kill(soak: Soak, seconds: float) -> Callable[[], None]:
    os.kill(soak.server.workers()[0], signal.SIGKILL)
    time.sleep(seconds)
    return lambda: None


FAULTS: dict[str, Callable[[Soak, float], Callable[[], None]]] = {
    "terminate": fault_terminate,
    "refuse": fault_refuse,
    "lock": fault_lock,
    "exhaust": fault_exhaust,
    "password": fault_password,
    "restart": fault_restart,
    "kill": fault_kill,
}
