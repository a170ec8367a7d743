"""The live bench's clients: one asyncio loop per process holding many WebSockets, one subscription on
each (as a single-page app opens them), speaking graphql-transport-ws with the `websockets` library.

Each subscription records every log it is sent as (log id, status, receive time). The orchestrator
(bench/live.py) talks to a client process through two queues: the process says `ready` once every
subscription has had its first message, then, told what the writer committed (`expect`), `drained`
once every subscription has seen each of its logs at its final status, and `done` with its records'
analysis once told to `stop`.
"""

from __future__ import annotations

import asyncio
import contextlib
import multiprocessing.queues
import resource
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed
from websockets.typing import Subprotocol

from bench.live_subscriptions import WHERES, Endpoint, Subscription, document

PROTOCOL = Subprotocol("graphql-transport-ws")
CONNECT_TRIES = 3
FIRST_MESSAGE_SECONDS = 120.0  # after the last connection was opened


@dataclass
class _Stream:
    subscription: Subscription
    records: list[tuple[str, str, float]] = field(default_factory=list)
    messages: int = 0
    last_at: float | None = None  # the last message
    cursor: str | None = None  # the last message's
    resumed: dict[str, Any] | None = None  # what a new subscription from `cursor` brought, if one was made
    first_at: float | None = None
    failed: str | None = None  # never got its first message
    ended: str | None = None  # the server ended it (error, complete, a closed socket) after its first
    ended_at: float | None = None
    expected: set[tuple[str, str]] = field(default_factory=set)  # (log, final status), once known
    missing: set[tuple[str, str]] | None = None  # of those, still to come
    socket: ClientConnection | None = None
    closing: bool = False  # closed by this side: what follows is no end by the server

    def end(self, reason: str) -> None:
        """The first reason the server gave for ending the stream, and when."""
        if self.ended is None:
            self.ended, self.ended_at = reason[:200], time.time()


def raise_file_limit() -> int:
    """The soft limit on open files raised to the hard one (each WebSocket is a file); the new limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


async def _open(endpoint: Endpoint, stream: _Stream, after: str | None = None) -> ClientConnection:
    subscription = stream.subscription
    # As a browser: permessage-deflate offered, no proxy, no pings of the client's own.
    socket = await connect(
        endpoint.url,
        subprotocols=[PROTOCOL],
        compression="deflate" if endpoint.deflate else None,
        proxy=None,
        ping_interval=None,
        open_timeout=60,
        max_size=2**24,
    )
    await socket.send(
        orjson.dumps({"type": "connection_init", "payload": {"ApiKey": subscription.key}}).decode()
    )
    ack = orjson.loads(await asyncio.wait_for(socket.recv(), 30))
    if ack.get("type") != "connection_ack":
        await socket.close()
        raise RuntimeError(f"no connection_ack: {ack}")
    query = document(subscription.where, subscription.selection, after)
    await socket.send(orjson.dumps({"id": "1", "type": "subscribe", "payload": {"query": query}}).decode())
    return socket


async def _run(endpoint: Endpoint, stream: _Stream, on_log: Any) -> None:
    """Connect (again, up to CONNECT_TRIES, while no message came: nothing can be missed yet), then
    record every log until the socket closes or the stream ends."""
    for attempt in range(CONNECT_TRIES):
        try:
            socket = stream.socket = await _open(endpoint, stream)
            break
        except (OSError, TimeoutError, RuntimeError, ConnectionClosed) as exc:
            if attempt + 1 == CONNECT_TRIES:
                stream.failed = f"{type(exc).__name__}: {exc}"[:200]
                return
            await asyncio.sleep(0.5 * 2**attempt)
    else:
        return
    try:
        async for raw in socket:
            received = time.time()
            message = orjson.loads(raw)
            kind = message.get("type")
            if kind == "next":
                payload = message["payload"]
                if payload.get("errors"):
                    error = payload["errors"][0]
                    code = (error.get("extensions") or {}).get("code")
                    stream.end(f"{code}: {error.get('message')}")
                    continue
                stream.messages += 1
                stream.last_at = received
                if stream.first_at is None:
                    stream.first_at = received
                stream.cursor = payload["data"]["whatsAppLogStream"]["cursor"]
                for log in payload["data"]["whatsAppLogStream"]["logs"]:
                    change = (log["id"], log["status"])
                    stream.records.append((*change, received))
                    on_log(stream, change)
            elif kind == "ping":
                await socket.send('{"type":"pong"}')
            elif kind in ("error", "complete"):
                stream.end(f"{kind}: {message.get('payload')}")
                return
    except ConnectionClosed as exc:
        if not stream.closing:
            stream.end(f"closed {exc.rcvd.code if exc.rcvd else '-'}")
    else:
        if stream.first_at is not None and not stream.closing:
            stream.end(f"closed {socket.close_code}")
    finally:
        if stream.first_at is None and stream.failed is None:
            stream.failed = stream.ended or "closed before its first message"


async def _close(stream: _Stream) -> None:
    stream.closing = True
    if stream.socket is None:
        return
    with contextlib.suppress(Exception):
        await stream.socket.send('{"id":"1","type":"complete"}')
    with contextlib.suppress(Exception):
        await asyncio.wait_for(stream.socket.close(), 10)


async def warm(endpoint: Endpoint, subscriptions: Iterable[Subscription]) -> list[str]:
    """Open each subscription, wait for its first message, close it; the failures."""
    streams = [_Stream(s) for s in subscriptions]
    tasks = [asyncio.ensure_future(_run(endpoint, stream, lambda *_: None)) for stream in streams]
    deadline = time.monotonic() + 60
    while any(s.first_at is None and s.failed is None for s in streams) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    await asyncio.gather(*(_close(stream) for stream in streams))
    await asyncio.gather(*tasks, return_exceptions=True)
    return [s.failed for s in streams if s.failed is not None]


class _Clients:
    def __init__(self, endpoint: Endpoint, subscriptions: list[Subscription], connect_rate: float) -> None:
        self.endpoint, self.connect_rate = endpoint, connect_rate
        self.streams = [_Stream(s) for s in subscriptions]
        self.by_index = {stream.subscription.index: stream for stream in self.streams}
        self.waiting: set[int] = set()  # streams with a log still missing, once expected

    def on_log(self, stream: _Stream, change: tuple[str, str]) -> None:
        if stream.missing and change in stream.missing:
            stream.missing.discard(change)
            if not stream.missing:
                self.waiting.discard(stream.subscription.index)

    async def connect(self) -> list[asyncio.Task[None]]:
        tasks = []
        started = time.monotonic()
        for number, stream in enumerate(self.streams):
            await asyncio.sleep(max(0.0, started + number / self.connect_rate - time.monotonic()))
            tasks.append(asyncio.ensure_future(_run(self.endpoint, stream, self.on_log)))
        deadline = time.monotonic() + FIRST_MESSAGE_SECONDS
        pending = self._pending(tasks)
        while pending and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            pending = self._pending(tasks)
        for stream, task in pending:  # given up on: failed, and never counted as losing logs
            task.cancel()
            stream.failed = f"no first message within {FIRST_MESSAGE_SECONDS:.0f} s of connecting them all"
        return tasks

    def _pending(self, tasks: list[asyncio.Task[None]]) -> list[tuple[_Stream, asyncio.Task[None]]]:
        """The streams still without their first message, and not failed."""
        return [
            (s, t)
            for s, t in zip(self.streams, tasks, strict=True)
            if s.first_at is None and s.failed is None
        ]

    def expect(self, finals: dict[str, tuple[str, str]]) -> None:
        """Each stream must see each log of its project whose final status it matches, at that status."""
        groups: dict[tuple[str, str], set[tuple[str, str]]] = {}
        for log, (project, status) in finals.items():
            for where, (_, statuses) in WHERES.items():
                if statuses is None or status in statuses:
                    groups.setdefault((project, where), set()).add((log, status))
        for stream in self.streams:
            s = stream.subscription
            if stream.first_at is None:  # never connected: reported as failed, not as losing logs
                stream.missing = set()
                continue
            stream.expected = groups.get((s.project, s.where), set())
            stream.missing = stream.expected - {(log, status) for log, status, _ in stream.records}
            if stream.missing:
                self.waiting.add(s.index)

    def drained(self) -> bool:
        """Every stream has seen all it expects, or was ended (it will see nothing more)."""
        self.waiting = {index for index in self.waiting if self.by_index[index].ended is None}
        return not self.waiting

    def report(self, commits: dict[tuple[str, str], float]) -> dict[str, Any]:
        return analyse(self.streams, commits)


def analyse(streams: Sequence[_Stream], commits: dict[tuple[str, str], float]) -> dict[str, Any]:
    """Latencies (receive - commit of each first delivery of a log at a status), repeats (the same log
    at the same status twice to one stream), foreign logs (not the stream's project's, or not matching
    its where: must never happen) and lost ones (still missing)."""
    latencies: list[float] = []
    repeated = foreign = messages_logs = 0
    last_final_at = 0.0  # when the last log at its final status reached its last stream
    for stream in streams:
        statuses = stream.subscription.statuses
        seen: set[tuple[str, str]] = set()
        for log, status, received in stream.records:
            messages_logs += 1
            change = (log, status)
            if change in seen:
                repeated += 1
                continue
            seen.add(change)
            if change in stream.expected:
                last_final_at = max(last_final_at, received)
            committed = commits.get(change)
            if committed is None or (statuses is not None and status not in statuses):
                foreign += 1
                continue
            latencies.append(received - committed)
    return {
        "latencies": latencies,
        "delivered": messages_logs,
        "messages": sum(s.messages for s in streams),
        "last_final_at": last_final_at,
        "repeated": repeated,
        "foreign": foreign,
        "lost": sum(len(s.missing or ()) for s in streams),
        "lost_on_open_streams": sum(len(s.missing or ()) for s in streams if s.ended is None),
        "failed": [s.failed for s in streams if s.failed is not None],
        "ended": [s.ended for s in streams if s.ended is not None and s.first_at is not None],
        "ended_at": [s.ended_at for s in streams if s.ended_at is not None and s.first_at is not None],
        "missing_on_open_streams": [_missing(s, commits) for s in streams if s.missing and s.ended is None][
            :10
        ],
    }


def _missing(stream: _Stream, commits: dict[tuple[str, str], float]) -> dict[str, Any]:
    """What a stream that is still open lacks, to look into."""
    s = stream.subscription
    log, status = min(stream.missing or (), key=lambda change: commits.get(change, 0.0))
    return {
        "subscription": s.index,
        "project": s.project,
        "where": s.where,
        "selection": s.selection,
        "missing": len(stream.missing or ()),
        "messages": stream.messages,
        "last_message_at": stream.last_at,
        "oldest_missing": {"log": log, "status": status, "committed_at": commits.get((log, status))},
        "received_of_that_log": [(st, t) for lg, st, t in stream.records if lg == log],
        "resumed_from_last_cursor": stream.resumed,
    }


@dataclass(frozen=True)
class Channel:
    """What an orchestrator and one client process say to each other."""

    commands: multiprocessing.queues.Queue[Any]
    replies: multiprocessing.queues.Queue[Any]


def serve_clients(
    endpoint: Endpoint, subscriptions: list[Subscription], connect_rate: float, channel: Channel
) -> None:
    """A client process: `multiprocessing` target."""
    raise_file_limit()
    asyncio.run(_main(endpoint, subscriptions, connect_rate, channel))


async def _main(
    endpoint: Endpoint, subscriptions: list[Subscription], connect_rate: float, channel: Channel
) -> None:
    clients = _Clients(endpoint, subscriptions, connect_rate)
    started = time.monotonic()
    tasks = await clients.connect()
    failed = [s.failed for s in clients.streams if s.failed is not None]
    channel.replies.put(("ready", {"seconds": time.monotonic() - started, "failed": failed}))
    commits: dict[tuple[str, str], float] = {}
    while True:
        command, argument = await asyncio.to_thread(channel.commands.get)
        if command == "expect":
            finals, commits = argument
            clients.expect(finals)
            while not clients.drained() and not await _stop_requested(channel):
                await asyncio.sleep(0.05)
            channel.replies.put(("drained", None))
        elif command == "stop":
            stuck = [s for s in clients.streams if s.missing and s.ended is None][:10]
            await asyncio.gather(*(_resume(endpoint, stream) for stream in stuck))
            await asyncio.gather(*(_close(stream) for stream in clients.streams))
            await asyncio.gather(*tasks, return_exceptions=True)
            channel.replies.put(("done", clients.report(commits)))
            return


async def _resume(endpoint: Endpoint, stream: _Stream, seconds: float = 3.0) -> None:
    """For a stream still open but missing logs: a new subscription from its last cursor, and which of
    the missing logs it brings (all: the old stream was not reading again; none: its place had moved
    past them)."""
    probe = _Stream(stream.subscription)
    try:
        probe.socket = await _open(endpoint, probe, after=stream.cursor)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                async for raw in probe.socket:
                    message = orjson.loads(raw)
                    if message.get("type") == "next" and not message["payload"].get("errors"):
                        batch = message["payload"]["data"]["whatsAppLogStream"]["logs"]
                        probe.records += [(log["id"], log["status"], time.time()) for log in batch]
    except (OSError, RuntimeError, ConnectionClosed) as exc:
        stream.resumed = {"error": f"{type(exc).__name__}: {exc}"[:200]}
        return
    finally:
        await _close(probe)
    came = {(log, status) for log, status, _ in probe.records}
    stream.resumed = {"logs": len(probe.records), "missing_that_came": len((stream.missing or set()) & came)}


async def _stop_requested(channel: Channel) -> bool:
    """True when the orchestrator gave up waiting (its `stop` is put back for the main loop)."""
    try:
        command = channel.commands.get_nowait()
    except Exception:  # noqa: BLE001 - queue.Empty, whichever module raised it
        return False
    channel.commands.put(command)
    return True
