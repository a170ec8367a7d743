"""The live bench's other processes as its orchestrator (bench/live.py) holds them: the client
processes (bench/live_clients.py), each with its share of the subscriptions, and the writer
(bench/live_writer.py). Each is spawned, talks through queues, and is killed if it outlives its run."""

from __future__ import annotations

import multiprocessing
import multiprocessing.queues
import queue
import time
from typing import Any

from bench.live_clients import Channel, serve_clients
from bench.live_subscriptions import Endpoint, Subscription
from bench.live_writer import WriterPlan, write


class ClientProcesses:
    """The client processes, each with its share of the subscriptions, and their replies."""

    def __init__(
        self, endpoint: Endpoint, subscriptions: list[Subscription], *, processes: int, connect_rate: float
    ) -> None:
        context = multiprocessing.get_context("spawn")
        count = max(1, min(processes, len(subscriptions)))
        self.channels = [Channel(context.Queue(), context.Queue()) for _ in range(count)]
        self.processes = [
            context.Process(
                target=serve_clients,
                args=(endpoint, subscriptions[n::count], connect_rate / count, channel),
                daemon=True,
            )
            for n, channel in enumerate(self.channels)
        ]
        for process in self.processes:
            process.start()

    def pids(self) -> list[int]:
        return [p.pid for p in self.processes if p.pid is not None]

    def send(self, command: str, argument: Any = None) -> None:
        for channel in self.channels:
            channel.commands.put((command, argument))

    def gather(self, kind: str, seconds: float) -> list[Any] | None:
        """Each process's next reply of `kind` (others are dropped), or None past `seconds`."""
        deadline = time.monotonic() + seconds
        found: list[Any] = []
        for channel, process in zip(self.channels, self.processes, strict=True):
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                try:
                    reply, value = channel.replies.get(timeout=min(left, 1.0))
                except queue.Empty:
                    if not process.is_alive():
                        raise RuntimeError(f"a client process exited ({process.exitcode})") from None
                    continue
                if reply == kind:
                    found.append(value)
                    break
        return found

    def close(self) -> None:
        for process in self.processes:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()


class WriterProcess:
    def __init__(self, plan: WriterPlan) -> None:
        context = multiprocessing.get_context("spawn")
        self.go = context.Event()
        self.replies: multiprocessing.queues.Queue[Any] = context.Queue()
        self.process = context.Process(target=write, args=(plan, self.go, self.replies), daemon=True)
        self.process.start()

    def reply(self, kind: str, seconds: float) -> Any:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                reply, value = self.replies.get(timeout=1.0)
            except queue.Empty:
                if not self.process.is_alive():
                    raise RuntimeError(f"the writer exited ({self.process.exitcode})") from None
                continue
            if reply == "failed":
                raise RuntimeError(f"the writer failed: {value}")
            if reply == kind:
                return value
        raise RuntimeError(f"the writer did not say {kind!r} within {seconds:.0f} s")

    def close(self) -> None:
        self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
