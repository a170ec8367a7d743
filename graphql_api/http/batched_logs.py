"""The log's lines written to stderr together: a write per request cost more than the rest of the line.

Every request logs a line, and a line written on its own is a system call; when stderr is a pipe (a
container's log driver, journald) that call also wakes the process reading it: measured in process, a
page of 10 took 141-148 us with stderr a pipe to another process against 105-107 us when nothing was
written at all. So on an event loop's thread this handler keeps the lines and writes them together,
within FLUSH_SECONDS of the first one kept, as soon as MAX_PENDING_BYTES are waiting, and at once with
a record at WARNING or above (after the lines before it: the order stays). Lines logged outside a loop
(the command line, a worker thread, the supervisor) are written at once, after those waiting. The
handler's flush at exit (logging.shutdown) writes what is left; a worker killed outright (SIGKILL)
loses at most its last FLUSH_SECONDS of request lines, as its metrics do.

Several workers share one stderr: each write holds whole lines and at most PIPE_BUF bytes, which a pipe
writes without interleaving another process's (a longer line goes alone, as it did before).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import select
from typing import Any, TextIO

FLUSH_SECONDS = 0.25
MAX_PENDING_BYTES = 64 * 1024
# What a pipe writes in one piece (POSIX guarantees at least 512; Linux 4096).
ATOMIC_BYTES = getattr(select, "PIPE_BUF", 512)


class BatchingStreamHandler(logging.StreamHandler):  # type: ignore[type-arg]
    def __init__(self, stream: TextIO | None = None) -> None:
        super().__init__(stream)
        self._pending: list[str] = []
        self._pending_bytes = 0
        self._timer: asyncio.TimerHandle | None = None
        self._timer_loop: asyncio.AbstractEventLoop | None = None

    def emit(self, record: logging.LogRecord) -> None:  # under self.lock (Handler.handle)
        try:
            self.add(self.format(record), record.levelno)
        except RecursionError:
            raise
        except Exception:  # noqa: BLE001 - as StreamHandler does: the record is lost, not the program
            self.handleError(record)

    def add(self, text: str, level: int) -> None:
        """Write a formatted line at `level`, now or with the others (call with the handler's lock held)."""
        line = text + self.terminator
        self._pending.append(line)
        self._pending_bytes += len(line)
        if level >= logging.WARNING or self._pending_bytes >= MAX_PENDING_BYTES:
            self._write_pending()
            return
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:  # no loop on this thread: nothing would write it later
            self._write_pending()
            return
        if self._timer is None or self._timer_loop is not loop:  # (a loop that ended never fires)
            self._timer, self._timer_loop = loop.call_later(FLUSH_SECONDS, self._flush_on_time), loop

    def flush(self) -> None:
        self.acquire()
        try:
            self._write_pending()
            super().flush()
        finally:
            self.release()

    def _flush_on_time(self) -> None:
        # stderr gone (its reader closed the pipe): those lines are lost, as StreamHandler loses a line it
        # cannot write, and the loop goes on serving.
        with contextlib.suppress(Exception):
            self.flush()

    def _write_pending(self) -> None:
        self._timer = None  # a timer still armed finds nothing to write
        if not self._pending:
            return
        lines, self._pending, self._pending_bytes = self._pending, [], 0
        for chunk in _chunks(lines):
            self.stream.write(chunk)
        self.stream.flush()


def _chunks(lines: list[str]) -> list[str]:
    """`lines` joined into pieces of whole lines, each at most ATOMIC_BYTES (or one longer line)."""
    chunks: list[str] = []
    piece: list[str] = []
    size = 0
    for line in lines:
        length = len(line.encode("utf-8", "surrogatepass")) if not line.isascii() else len(line)
        if piece and size + length > ATOMIC_BYTES:
            chunks.append("".join(piece))
            piece, size = [], 0
        piece.append(line)
        size += length
    if piece:
        chunks.append("".join(piece))
    return chunks


def handler_config(formatter: str) -> dict[str, Any]:
    """The `logging.config.dictConfig` entry of this handler on stderr."""
    return {
        "class": f"{__name__}.BatchingStreamHandler",
        "formatter": formatter,
        "stream": "ext://sys.stderr",
    }
