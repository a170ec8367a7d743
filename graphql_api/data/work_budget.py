"""The database work one request may cause: REQUEST_WORK_SECONDS, summed over all of its statements.

The query limits bound the shape of a request, not the work its filters and sorts cause: a text search
reads every log of the project, and so do a sort on a field without an index and a deep `skip`. So every
request gets a budget of database time, and a statement that would go past it is stopped and answered
QUERY_TOO_COMPLEX (WorkLimitExceeded), never left to run on.

- SQLite: the statement's thread CPU time, counted by a progress handler every few thousand virtual
  machine instructions, which interrupts the statement once the request's budget is spent.
- PostgreSQL: the time spent waiting for statements, each cancelled on the server once it would exceed
  what the request has left.

The budget of the current request lives in a context variable: set by the HTTP middleware, it reaches
resolvers, DataLoader tasks and SQLAlchemy's greenlets; statements run outside any request (the CLI,
probes) have none.
"""

from __future__ import annotations

import sqlite3
import time
from collections.abc import Callable
from contextvars import ContextVar
from typing import Any, TypeVar

from graphql_api.errors import WorkLimitExceeded

T = TypeVar("T")

# How often the progress handler runs, in SQLite virtual machine instructions (about a millisecond): it
# takes the GIL each time, so not so often that a statement in a thread keeps stopping for it.
PROGRESS_STEPS = 100_000


class WorkBudget:
    """Seconds of database work a request may still use; shared by its concurrent statements."""

    __slots__ = ("seconds", "used")

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.used = 0.0

    @property
    def remaining(self) -> float:
        return self.seconds - self.used

    @property
    def exhausted(self) -> bool:
        return self.used >= self.seconds

    def charge(self, seconds: float) -> None:
        self.used += seconds

    def error(self) -> WorkLimitExceeded:
        return WorkLimitExceeded(self.seconds)


_current: ContextVar[WorkBudget | None] = ContextVar("work_budget", default=None)


def current() -> WorkBudget | None:
    """The budget of the request being served, or None (no limit)."""
    return _current.get()


class budget:  # noqa: N801 - used as a function: `with budget(seconds):`
    """Give the code inside (one request) a budget of `seconds`; 0 or less: no limit. (A class rather than
    a generator under @contextmanager: a microsecond less per request.)"""

    __slots__ = ("work", "_token")

    def __init__(self, seconds: float) -> None:
        self.work = WorkBudget(seconds) if seconds > 0 else None

    def __enter__(self) -> WorkBudget | None:
        self._token = _current.set(self.work)
        return self.work

    def __exit__(self, *_: object) -> None:
        _current.reset(self._token)


class SqliteMeter:
    """A progress handler for one statement: charges its thread CPU time to `work` as it runs and stops
    it (non-zero) once the budget is spent or `stop()` was called (the request was cancelled)."""

    __slots__ = ("work", "last", "stopped")

    def __init__(self, work: WorkBudget | None) -> None:
        self.work = work
        self.last = 0.0  # set by start(), on the statement's thread
        self.stopped = False

    def __call__(self) -> int:
        if self.work is not None:
            now = time.thread_time()
            self.work.charge(now - self.last)
            self.last = now
            if self.work.exhausted:
                return 1
        return 1 if self.stopped else 0

    def start(self) -> float:
        """Start counting (on the statement's thread: CPU time is per thread); the thread's CPU time now."""
        self.last = time.thread_time()
        return self.last

    def stop(self) -> None:
        self.stopped = True

    def finish(self) -> None:
        """Charge the time since the last tick (call on the statement's thread, once it is done)."""
        if self.work is not None:
            self.work.charge(time.thread_time() - self.last)


def run_metered(db: Any, meter: SqliteMeter, run: Callable[..., T], *args: Any) -> T:
    """On the connection's thread: `run(*args)` with `meter` as the connection's progress handler."""
    if meter.work is not None and meter.work.exhausted:  # a sibling statement spent it
        raise sqlite3.OperationalError("interrupted")
    meter.start()
    db.set_progress_handler(meter, PROGRESS_STEPS)
    try:
        return run(*args)
    finally:
        db.set_progress_handler(None, 0)
        meter.finish()
