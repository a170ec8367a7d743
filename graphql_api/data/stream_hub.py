"""What one server process holds for whatsAppLogStream: its open streams, their limits, and the one
watcher that wakes them when logs change (docs/subscriptions.md).

- PostgreSQL: one connection per process LISTENs to `whatsapp_log_change` (a NOTIFY per writing
  statement, sent at commit, naming the transaction and its projects). A change is announced to the
  streams of its projects once the feed's bound has passed its transaction (data/feed_queries.py), so a
  stream never wakes to find its logs still held back by an older transaction; until then the watcher
  looks again every few tens of milliseconds. After a lost connection it connects again (backing off)
  and wakes every stream, which then reads what it missed, or meets the outage itself.
- SQLite: the feed's clock, on a connection of its own, every CHANGE_POLL_SECONDS; when it moved, one
  statement finds which of the projects with streams have logs changed since, and those are woken.

The watcher starts with the first stream and stops when the process does (`close`); a process that
serves no stream holds no connection for them.

Streams woken together that read the same thing (one project, the same `where`, selection and batch
size, from the same place) share one read (`shared`): the first starts it, the others await its result.
Streams that start at different moments meet at the same place after their first short batch (it ends
at the feed's bound), so a dashboard's many tabs cost one statement per change, not one each.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from contextlib import asynccontextmanager
from typing import Any, TypeVar

from sqlalchemy.ext.asyncio import create_async_engine
from sqlalchemy.pool import NullPool

from graphql_api.data import feed_queries
from graphql_api.data.database import Database, create_engine, request_connect_args
from graphql_api.data.migrations.change_triggers import CHANNEL
from graphql_api.errors import RateLimited
from graphql_api.settings import Settings

logger = logging.getLogger("graphql_api.streams")

_PENDING_POLL = (0.02, 0.5)  # seconds between looks at a held-back bound: first, at most
_RECONNECT = (0.1, 5.0)  # seconds before connecting again: first, at most
# How long a shared read that is done serves streams that come to its place (related records it loaded,
# an incident's title say, change without waking anyone: they are read again at least this often).
KEEP_READS_SECONDS = 2.0

T = TypeVar("T")


class Waiter:
    """One stream's wake-up: set by the watcher, cleared when the stream waits again. A future only while
    the stream waits (an asyncio.Event holds a deque for good: 0.7 KB of each idle stream)."""

    __slots__ = ("_future", "_set", "_changed", "closed")

    def __init__(self) -> None:
        self._future: asyncio.Future[None] | None = None
        self._set = False
        self._changed = False
        self.closed = False

    def wake(self) -> None:
        self._changed = True
        self._fire()

    def _fire(self) -> None:
        self._set = True
        if self._future is not None and not self._future.done():
            self._future.set_result(None)

    async def wait(self, seconds: float) -> bool:
        """Until woken (True) or `seconds` passed (False)."""
        if not self._set:
            loop = asyncio.get_running_loop()
            self._future = loop.create_future()
            timer = loop.call_later(seconds, self._fire)
            try:
                await self._future
            finally:
                timer.cancel()
                self._future = None
        self._set = False
        changed, self._changed = self._changed, False
        return changed


class _SharedRead:
    __slots__ = ("future", "finished")

    def __init__(self, future: asyncio.Future[Any]) -> None:
        self.future = future
        self.finished: float | None = None  # the loop's time when it ended


class StreamHub:
    def __init__(self, settings: Settings, database: Database) -> None:
        self.settings = settings
        self.database = database
        self._waiters: dict[str, set[Waiter]] = {}  # project id -> its streams
        self._per_key: Counter[str] = Counter()
        self._open = 0
        self._watcher: asyncio.Task[None] | None = None
        # Set once the watcher has looked for the first time (or failed to): from then on no change can
        # pass unseen, so a stream reads where it starts only after it.
        self._watching = asyncio.Event()
        # The feed's bound as the watcher last read it (None before it has): streams woken together read
        # up to it (feed_queries.select_batch), so that they come to the same place.
        self.bound: int | None = None
        self._closed = False
        # `shared` reads since each project's streams were last woken: under way, or done (and kept
        # only when `lasting`), by what they read.
        self._reads: dict[str, dict[Hashable, _SharedRead]] = {}

    @property
    def open_streams(self) -> int:
        return self._open

    @asynccontextmanager
    async def open(self, *, key_id: str, project_id: str) -> AsyncIterator[Waiter]:
        """A stream of `project_id` for the key `key_id`; RATE_LIMITED past the per-key or per-process
        number of open streams."""
        self._admit(key_id)
        waiter = Waiter()
        self._per_key[key_id] += 1
        self._open += 1
        self._waiters.setdefault(project_id, set()).add(waiter)
        try:
            self._start()
            if not self._watching.is_set():
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.settings.connect_timeout + 1):
                        await self._watching.wait()
            yield waiter
        finally:
            self._per_key[key_id] -= 1
            if not self._per_key[key_id]:
                del self._per_key[key_id]
            self._open -= 1
            project = self._waiters.get(project_id)
            if project is not None:
                project.discard(waiter)
                if not project:
                    del self._waiters[project_id]
                    self._reads.pop(project_id, None)

    async def shared(
        self, project_id: str, what: Hashable, read: Callable[[], Awaitable[T]], *, lasting: bool = True
    ) -> T:
        """`read()`'s result, or that of the same read of `project_id`'s logs (`what`) that another stream
        started since the project's streams were last woken, under way or (`lasting`) done within
        KEEP_READS_SECONDS: until the next wake nothing it could read has changed, so streams that come
        to the same place one after another (a saturated worker serves them in turn) still read once.
        A read that began before a wake might not see the change behind it, so a stream never joins
        one. The read runs in a task of its own, so a stream that ends meanwhile does not cancel it for
        the others; its failure is each one's, and is not kept."""
        reads = self._reads.setdefault(project_id, {})
        loop = asyncio.get_running_loop()
        kept = reads.get(what)
        if kept is None or (kept.finished is not None and loop.time() - kept.finished > KEEP_READS_SECONDS):
            kept = _SharedRead(asyncio.ensure_future(read()))
            reads[what] = kept
            shared = kept

            def done(future: asyncio.Future[Any]) -> None:
                failed = future.cancelled() or future.exception() is not None
                if (failed or not lasting) and reads.get(what) is shared:
                    del reads[what]
                shared.finished = loop.time()

            kept.future.add_done_callback(done)
        if kept.future.done():  # most streams of a group come once the read is done
            done_result: T = kept.future.result()
            return done_result
        result: T = await asyncio.shield(kept.future)
        return result

    def _admit(self, key_id: str) -> None:
        if self._closed:
            raise RateLimited("The server is shutting down; subscribe again shortly.", retry_after=1)
        per_key, total = self.settings.max_subscriptions_per_key, self.settings.max_subscriptions
        if self._per_key[key_id] >= per_key:
            raise RateLimited(
                f"This API key has {per_key} open subscriptions on this server, the most allowed "
                "(MAX_SUBSCRIPTIONS_PER_KEY); complete one before starting another.",
                retry_after=5,
            )
        if self._open >= total:
            raise RateLimited(
                f"This server has {total} open subscriptions, the most it allows (MAX_SUBSCRIPTIONS); "
                "retry shortly.",
                retry_after=5,
            )

    def wake(self, projects: Iterable[str] | None = None) -> None:
        """Wake the streams of `projects`, or every stream (None)."""
        if projects is None:
            self._reads.clear()
            for waiters in self._waiters.values():
                for waiter in waiters:
                    waiter.wake()
            return
        for project_id in projects:
            self._reads.pop(project_id, None)
            project = self._waiters.get(project_id)
            if project:
                for waiter in project:
                    waiter.wake()

    def _start(self) -> None:
        if self._watcher is None or self._watcher.done():
            dialect = self.database.engine.dialect.name
            watch = self._listen if dialect == "postgresql" else self._poll_sqlite
            self._watcher = asyncio.get_running_loop().create_task(
                watch(), name="whatsapp-log-change-watcher"
            )

    async def close(self) -> None:
        """Stop the watcher and end every stream (they complete)."""
        self._closed = True
        for waiters in self._waiters.values():
            for waiter in waiters:
                waiter.closed = True
        self.wake()
        if self._watcher is not None:
            self._watcher.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self._watcher

    # --- PostgreSQL ------------------------------------------------------------------------------

    async def _listen(self) -> None:
        delay = _RECONNECT[0]
        while not self._closed:
            try:
                await self._listen_once()
                delay = _RECONNECT[0]
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: wake everyone, connect again
                logger.warning(
                    "change listener lost its connection: %s", str(exc).splitlines()[0] or repr(exc)
                )
                self.wake()  # each stream reads, and meets the outage (or what it missed) itself
                self._watching.set()
            await asyncio.sleep(delay)
            delay = min(delay * 2, _RECONNECT[1])

    async def _listen_once(self) -> None:
        engine = create_async_engine(
            self.settings.database_url, poolclass=NullPool, connect_args=request_connect_args(self.settings)
        )
        notified = asyncio.Event()
        pending: list[tuple[int, list[str] | None]] = []
        lost = asyncio.Event()

        def on_notify(_conn: Any, _pid: int, _channel: str, payload: str) -> None:
            xid, _, projects = payload.partition(" ")
            pending.append((int(xid), None if projects == "*" else projects.split(",")))
            notified.set()

        try:
            async with engine.connect() as conn:
                raw = (await conn.get_raw_connection()).driver_connection
                assert raw is not None
                raw.add_termination_listener(lambda _conn: lost.set())
                await raw.add_listener(CHANNEL, on_notify)
                if self._watching.is_set():
                    self.wake()  # whatever committed while nobody listened
                self._watching.set()
                while not lost.is_set():
                    if not pending:
                        waiting = asyncio.ensure_future(notified.wait())
                        gone = asyncio.ensure_future(lost.wait())
                        await asyncio.wait({waiting, gone}, return_when=asyncio.FIRST_COMPLETED)
                        waiting.cancel()
                        gone.cancel()
                        notified.clear()
                        continue
                    await self._announce(pending)
                raise ConnectionError("the listening connection closed")
        finally:
            await engine.dispose()

    async def _announce(self, pending: list[tuple[int, list[str] | None]]) -> None:
        """Wake the projects of the changes the feed's bound has passed; wait a little for the rest."""
        delay = _PENDING_POLL[0]
        while pending:
            async with self.database.reader() as conn:
                bound = await feed_queries.feed_bound(conn)
            ready = [change for change in pending if change[0] <= bound]
            self.bound = bound
            if ready:
                pending[:] = [change for change in pending if change[0] > bound]
                everyone = any(projects is None for _, projects in ready)
                self.wake(None if everyone else {p for _, projects in ready for p in projects or ()})
                delay = _PENDING_POLL[0]
                continue
            await asyncio.sleep(delay)
            delay = min(delay * 2, _PENDING_POLL[1])

    # --- SQLite ----------------------------------------------------------------------------------

    async def _poll_sqlite(self) -> None:
        """Every CHANGE_POLL_SECONDS, on a connection of its own: the feed's clock (advanced by every
        writing transaction that changes a log, see feed_queries); when it moved, the projects with
        streams whose logs changed since the last look are woken."""
        engine = create_engine(self.settings.with_(sqlite_pool_size=1), for_requests=True)
        interval = self.settings.change_poll_seconds
        last: int | None = None
        try:
            while not self._closed:
                try:
                    async with engine.connect() as conn:
                        bound = await feed_queries.feed_bound(conn)
                        self.bound = bound
                        if last is None:
                            if self._watching.is_set():  # what changed while the poll was failing
                                self.wake()
                        elif bound < last:  # another database file: every stream reads
                            self.wake()
                        elif bound > last:
                            projects = list(self._waiters)
                            self.wake(
                                await feed_queries.changed_projects(conn, projects, after=last, bound=bound)
                            )
                    last = bound
                    self._watching.set()
                except asyncio.CancelledError:
                    raise
                except Exception as exc:  # noqa: BLE001 - an unreadable file: the streams find out themselves
                    logger.warning(
                        "change poll failed: %s", str(exc).splitlines()[0] if str(exc) else repr(exc)
                    )
                    last = None
                    self.wake()
                    self._watching.set()
                await asyncio.sleep(interval)
        finally:
            await engine.dispose()
