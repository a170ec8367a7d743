"""The live bench's writer: a process of its own that writes logs into the database as the platform does
(the API never writes them), `rate` changes a second: every 50 ms one transaction inserting new logs
and moving earlier ones on (Sent -> Delivered -> Read), with sqlite3 or asyncpg directly.

Every change is recorded with its commit time: time.time() right after COMMIT returned.
"""

from __future__ import annotations

import asyncio
import heapq
import multiprocessing.queues
import multiprocessing.synchronize
import random
import sqlite3
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg  # type: ignore[import-untyped]
from sqlalchemy.engine import make_url

from bench.data import plain_dsn

TICK = 0.05
ATTEMPTS = 3
# A new log's status, and where each status goes next: (status, weight) and (next, share, delay range s).
FIRST = (("Sent", 85), ("Failed", 10), ("Error", 5))
NEXT = {"Sent": ("Delivered", 0.85, (0.05, 3.0)), "Delivered": ("Read", 0.7, (0.05, 5.0))}
TEXTS = [
    "Incident #{n} acknowledged by the on-call engineer; investigating elevated error rates.",
    "Monitor Checkout is down: 5xx errors above threshold in eu-west. Please check the dashboard.",
    "Scheduled maintenance window starts in 30 minutes for the primary database.",
    "Incident #{n} resolved. The runbook was followed and latency is back under the threshold.",
]
COLUMNS = (
    "id", "created_at", "updated_at", "project_id", "to_number", "message_text", "status", "status_message",
    "whatsapp_cost_in_usd_cents", "incident_id",
)  # fmt: skip
PG_TYPES = ("uuid", "timestamptz", "timestamptz", "uuid", "text", "text", "text", "text", "int", "uuid")
PG_INSERT = (
    f"INSERT INTO whatsapp_log ({', '.join(COLUMNS)}) SELECT * FROM unnest("
    + ", ".join(f"${i}::{kind}[]" for i, kind in enumerate(PG_TYPES, 1))
    + ")"
)
PG_UPDATE = (
    "UPDATE whatsapp_log AS log SET status = change.status, updated_at = $3 "
    "FROM unnest($1::uuid[], $2::text[]) AS change(id, status) WHERE log.id = change.id"
)
SQLITE_INSERT = f"INSERT INTO whatsapp_log ({', '.join(COLUMNS)}) VALUES ({', '.join('?' * len(COLUMNS))})"
SQLITE_UPDATE = "UPDATE whatsapp_log SET status = ?, updated_at = ? WHERE id = ?"


@dataclass(frozen=True)
class WriterPlan:
    url: str  # the server's DATABASE_URL
    projects: list[str]
    incidents: dict[str, list[str]]  # project -> its incidents (a third of new logs link one)
    rate: float  # changes a second, inserts and updates together
    seconds: float
    seed: int = 1


@dataclass
class _Tick:
    """One transaction's changes."""

    inserts: list[tuple[Any, ...]] = field(default_factory=list)
    updates: list[tuple[str, str]] = field(default_factory=list)  # (log id, new status)
    projects: list[str] = field(default_factory=list)  # of the inserts, then of the updates


class _Plan:
    """What to write next: due status changes first, new logs for the rest of each tick's budget."""

    def __init__(self, plan: WriterPlan) -> None:
        self.plan = plan
        self.random = random.Random(plan.seed)
        self.due: list[tuple[float, int, str, str, str]] = []  # (when, order, log, project, next status)
        self.order = 0
        self.budget = 0.0

    def tick(self, now: float) -> _Tick:
        self.budget += self.plan.rate * TICK
        tick = _Tick()
        moment = datetime.now(UTC)
        while self.due and self.due[0][0] <= now and len(tick.updates) < int(self.budget):
            _, _, log, project, status = heapq.heappop(self.due)
            tick.updates.append((log, status))
            tick.projects.append(project)
            self._schedule(now, log, project, status)
        inserts = int(self.budget) - len(tick.updates)
        for _ in range(inserts):
            tick.inserts.append(self._new_log(now, moment))
        tick.projects[:0] = [row[3] for row in tick.inserts]
        self.budget -= len(tick.updates) + len(tick.inserts)
        return tick

    def _new_log(self, now: float, moment: datetime) -> tuple[Any, ...]:
        rng = self.random
        project = rng.choice(self.plan.projects)
        status = rng.choices([s for s, _ in FIRST], [w for _, w in FIRST])[0]
        incidents = self.plan.incidents.get(project)
        incident = rng.choice(incidents) if incidents and rng.random() < 0.3 else None
        log = str(uuid.uuid4())  # not from the seed: the demo data took those
        self._schedule(now, log, project, status)
        text = rng.choice(TEXTS).format(n=rng.randrange(100, 999))
        message = "Meta API returned error 131026: message undeliverable." if status == "Error" else None
        phone = f"+1-555-{rng.randrange(100, 999)}-{rng.randrange(1000, 9999)}"
        return (log, moment, moment, project, phone, text, status, message, rng.randrange(1, 9), incident)

    def _schedule(self, now: float, log: str, project: str, status: str) -> None:
        if status not in NEXT:
            return
        following, share, (low, high) = NEXT[status]
        if self.random.random() < share:
            self.order += 1
            heapq.heappush(
                self.due, (now + self.random.uniform(low, high), self.order, log, project, following)
            )


@dataclass
class Written:
    """What the writer committed: (log, project, status, commit time) per change, and how it went."""

    changes: list[tuple[str, str, str, float]] = field(default_factory=list)
    transactions: int = 0
    commit_ms: list[float] = field(default_factory=list)
    late_ticks: int = 0
    errors: list[str] = field(default_factory=list)
    backend_pid: int | None = None
    seconds: float = 0.0

    @property
    def last_commit_at(self) -> float:
        return max((change[3] for change in self.changes), default=0.0)

    def summary(self) -> dict[str, Any]:
        ordered = sorted(self.commit_ms) or [0.0]
        statuses = [c[2] for c in self.changes]
        return {
            "changes": len(self.changes),
            "logs": len({c[0] for c in self.changes}),
            "by_status": {s: statuses.count(s) for s in sorted(set(statuses))},
            "transactions": self.transactions,
            "changes_per_s": len(self.changes) / self.seconds if self.seconds else 0.0,
            "commit_ms_p50": ordered[len(ordered) // 2],
            "commit_ms_max": ordered[-1],
            "late_ticks": self.late_ticks,
            "errors": self.errors[:5],
            "error_count": len(self.errors),
        }


def write(
    plan: WriterPlan,
    go: multiprocessing.synchronize.Event,
    replies: multiprocessing.queues.Queue[Any],
) -> None:
    """The writer process (`multiprocessing` target): connects, says `connected`, waits for `go`, writes
    for `plan.seconds`, then replies `written` with a Written."""
    try:
        if make_url(plan.url).get_backend_name() == "postgresql":
            written = asyncio.run(_write_postgresql(plan, go, replies))
        else:
            written = _write_sqlite(plan, go, replies)
    except Exception as exc:  # noqa: BLE001 - said to the orchestrator, which stops the run
        replies.put(("failed", f"{type(exc).__name__}: {exc}"))
        return
    replies.put(("written", written))


def _paced(plan: WriterPlan, written: Written) -> Any:
    """The ticks, each at its time (at once when late), for `plan.seconds`."""
    schedule = _Plan(plan)
    started = time.monotonic()
    ticks = round(plan.seconds / TICK)
    for number in range(ticks):
        wait = started + number * TICK - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        elif wait < -TICK:
            written.late_ticks += 1
        yield schedule.tick(time.monotonic())
    written.seconds = time.monotonic() - started


def _give_up(attempt: int, exc: Exception) -> None:
    """A tick's transaction is tried again (its changes must all land, in order, for the expected set
    to be right); after ATTEMPTS the writer stops with the error."""
    if attempt + 1 >= ATTEMPTS:
        raise RuntimeError(f"the writer's transaction failed {ATTEMPTS} times: {exc}") from exc
    time.sleep(0.1 * (attempt + 1))


def _record(written: Written, tick: _Tick, began: float) -> None:
    committed = time.time()
    written.transactions += 1
    written.commit_ms.append((committed - began) * 1000)
    changes = [(row[0], row[6]) for row in tick.inserts] + tick.updates
    written.changes += [
        (log, project, status, committed)
        for (log, status), project in zip(changes, tick.projects, strict=True)
    ]


def _write_sqlite(
    plan: WriterPlan, go: multiprocessing.synchronize.Event, replies: multiprocessing.queues.Queue[Any]
) -> Written:
    connection = sqlite3.connect(str(make_url(plan.url).database), isolation_level=None, timeout=30)
    connection.execute("PRAGMA busy_timeout=30000")
    written = Written()
    replies.put(("connected", None))
    go.wait()
    try:
        for tick in _paced(plan, written):
            began = time.time()
            text = datetime.now(UTC).replace(tzinfo=None).isoformat(sep=" ", timespec="microseconds")
            rows = [(*row[:1], text, text, *row[3:]) for row in tick.inserts]
            updates = [(status, text, log) for log, status in tick.updates]
            for attempt in range(ATTEMPTS):
                try:
                    connection.execute("BEGIN IMMEDIATE")
                    connection.executemany(SQLITE_INSERT, rows)
                    connection.executemany(SQLITE_UPDATE, updates)
                    connection.execute("COMMIT")
                    break
                except sqlite3.Error as exc:
                    written.errors.append(str(exc))
                    if connection.in_transaction:
                        connection.execute("ROLLBACK")
                    _give_up(attempt, exc)
            _record(written, tick, began)
    finally:
        connection.close()
    return written


async def _write_postgresql(
    plan: WriterPlan, go: multiprocessing.synchronize.Event, replies: multiprocessing.queues.Queue[Any]
) -> Written:
    connection = await asyncpg.connect(plain_dsn(plan.url), timeout=30)
    written = Written(backend_pid=int(await connection.fetchval("SELECT pg_backend_pid()")))
    insert, update = await connection.prepare(PG_INSERT), await connection.prepare(PG_UPDATE)
    replies.put(("connected", written.backend_pid))
    await asyncio.to_thread(go.wait)
    try:
        for tick in _paced(plan, written):
            began = time.time()
            for attempt in range(ATTEMPTS):
                try:
                    async with connection.transaction():
                        if tick.inserts:
                            await insert.fetch(*(list(column) for column in zip(*tick.inserts, strict=True)))
                        if tick.updates:
                            ids, statuses = zip(*tick.updates, strict=True)
                            await update.fetch(list(ids), list(statuses), datetime.now(UTC))
                    break
                except asyncpg.PostgresError as exc:
                    written.errors.append(str(exc))
                    _give_up(attempt, exc)
            _record(written, tick, began)
    finally:
        await connection.close()
    return written
