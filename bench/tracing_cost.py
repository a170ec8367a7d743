"""`python -m bench.tracing_cost`: what tracing costs a request, off (the default) and on.

Three `graphql-api serve --workers 2`, one with the defaults (tracing off) and one with
OTEL_TRACES_EXPORTER=otlp exporting every span (the default sampler) to a sink on loopback that
answers 200 (an OTLP collector's cost is not the server's), and a third keeping 1% of the traces
(`parentbased_traceidratio`, 0.01), loaded in turn with the benchmark's pages of
100 and 10, interleaved over rounds. Reports req/s, p99 and worker CPU per request (medians), the ratio
of on to off, and how many spans the sink received per request.
"""

from __future__ import annotations

import statistics
import sys
import threading
from collections.abc import Sequence
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from bench import comparison
from bench import queries as q
from bench.floor import Run, load
from bench.load import post_body
from bench.server import serving


class Sink:
    """An OTLP/HTTP endpoint that takes every export and counts the bytes."""

    def __init__(self) -> None:
        self.exports = 0
        self.bytes = 0
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - the handler's API
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                sink.exports += 1
                sink.bytes += len(body)
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.http = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.http.server_address[1]}"
        threading.Thread(target=self.http.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.http.shutdown()
        self.http.server_close()


def measure(data: Any, rounds: int, seconds: float) -> dict[str, Any]:
    key = {"Content-Type": "application/json", "ApiKey": data.keys[data.largest_project]}
    sink = Sink()
    on = {
        "OTEL_TRACES_EXPORTER": "otlp",
        "OTEL_EXPORTER_OTLP_ENDPOINT": sink.url,
        "OTEL_BSP_MAX_QUEUE_SIZE": "65536",
    }
    sampled = {**on, "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.01"}
    names = ("off", "on", "on_1pct")
    result: dict[str, Any] = {}
    try:
        with (
            serving(data, workers=2) as off_server,
            serving(data, workers=2, env=on) as on_server,
            serving(data, workers=2, env=sampled) as sampled_server,
        ):
            servers = {"off": off_server, "on": on_server, "on_1pct": sampled_server}
            for rows in (100, 10):
                body = post_body(q.page(rows))
                runs: dict[str, list[Run]] = {name: [] for name in names}
                for server in servers.values():
                    load(server, body, key, seconds=min(2.0, seconds))  # warm
                for round_ in range(rounds):
                    for name in names if round_ % 2 == 0 else names[::-1]:
                        runs[name].append(load(servers[name], body, key, seconds=seconds))
                result[f"page_{rows}"] = {
                    name: {
                        "req_s": round(statistics.median(r.req_s for r in measured)),
                        "p99_ms": round(statistics.median(r.p99_ms for r in measured), 1),
                        "cpu_ms_per_request": round(
                            statistics.median(r.cpu_ms_per_request for r in measured), 3
                        ),
                        "errors": sum(r.errors for r in measured),
                    }
                    for name, measured in runs.items()
                }
                page = result[f"page_{rows}"]
                page["on_over_off_req_s"] = round(page["on"]["req_s"] / page["off"]["req_s"], 2)
                page["on_over_off_cpu"] = round(
                    page["on"]["cpu_ms_per_request"] / page["off"]["cpu_ms_per_request"], 2
                )
    finally:
        sink.close()
    result["otlp_exports"] = sink.exports
    result["otlp_bytes"] = sink.bytes
    return result


def report(result: dict[str, Any]) -> None:
    for page in ("page_100", "page_10"):
        figures = result[page]
        for name in ("off", "on", "on_1pct"):
            f = figures[name]
            cpu = f["cpu_ms_per_request"]
            print(
                f"{page} tracing {name:>7}: {f['req_s']:>6} req/s  p99 {f['p99_ms']:>6} ms  {cpu:.3f} ms CPU"
            )
        print(f"{page} on/off: req/s x{figures['on_over_off_req_s']}, CPU x{figures['on_over_off_cpu']}")
    print(f"OTLP exports received: {result['otlp_exports']} ({result['otlp_bytes']} bytes)")


def main(argv: Sequence[str] | None = None) -> int:
    return comparison.run(
        argv, comparison.build_parser("python -m bench.tracing_cost", __doc__), measure, report
    )


if __name__ == "__main__":
    sys.exit(main())
