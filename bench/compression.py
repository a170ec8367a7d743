"""`python -m bench.compression`: what compression costs the benchmark's page of 100, and what it saves.

One `graphql-api serve --workers 2` with the defaults, under the benchmark's load for the page of 100 (and
of 10) sent with `Accept-Encoding: identity`, `gzip`, `br` and `zstd` in turn, interleaved over rounds; a
second server with COMPRESSION=false and ETAGS=false loaded with identity requests in the same rounds,
so that what the two layers cost a client that uses neither is measured too. Reports req/s, p99, worker
CPU per request and the bytes of one answer per encoding (medians over rounds).
"""

from __future__ import annotations

import logging
import statistics
import sys
import urllib.request
from collections.abc import Sequence
from typing import Any

from bench import comparison
from bench import queries as q
from bench.floor import Run, load
from bench.load import post_body
from bench.server import Served, serving

logger = logging.getLogger("bench")
ENCODINGS = ("identity", "gzip", "br", "zstd")


def answer_bytes(served: Served, body: str, headers: dict[str, str]) -> int:
    request = urllib.request.Request(served.url + "/graphql", data=body.encode(), headers=headers)
    with urllib.request.urlopen(request, timeout=30) as response:  # urllib never decodes
        return len(response.read())


def measure(data: Any, rounds: int, seconds: float) -> dict[str, Any]:
    key = {"Content-Type": "application/json", "ApiKey": data.keys[data.largest_project]}
    off = {"COMPRESSION": "false", "ETAGS": "false"}
    result: dict[str, Any] = {}
    with serving(data, workers=2) as on, serving(data, workers=2, env=off) as plain:
        for rows in (100, 10):
            body = post_body(q.page(rows))
            runs: dict[str, list[Run]] = {name: [] for name in (*ENCODINGS, "layers off")}
            sizes = {e: answer_bytes(on, body, {**key, "Accept-Encoding": e}) for e in ENCODINGS}
            for served in (on, plain):
                load(served, body, key, seconds=min(2.0, seconds))  # warm
            for round_ in range(rounds):
                order = [*ENCODINGS, "layers off"]
                for name in order if round_ % 2 == 0 else order[::-1]:
                    served = plain if name == "layers off" else on
                    encoding = "identity" if name == "layers off" else name
                    runs[name].append(
                        load(served, body, {**key, "Accept-Encoding": encoding}, seconds=seconds)
                    )
            result[f"page_{rows}"] = {
                name: {
                    "req_s": round(statistics.median(r.req_s for r in measured)),
                    "p99_ms": round(statistics.median(r.p99_ms for r in measured), 1),
                    "cpu_ms_per_request": round(statistics.median(r.cpu_ms_per_request for r in measured), 3),
                    "answer_bytes": sizes.get(name, sizes["identity"]),
                    "errors": sum(r.errors for r in measured),
                }
                for name, measured in runs.items()
            }
    return result


def report(result: dict[str, Any]) -> None:
    for page in ("page_100", "page_10"):
        for name, figures in result[page].items():
            print(
                f"{page} {name:>10}: {figures['req_s']:>6} req/s  p99 {figures['p99_ms']:>6} ms  "
                f"{figures['cpu_ms_per_request']:.3f} ms CPU/req  {figures['answer_bytes']:>7} bytes"
            )


def main(argv: Sequence[str] | None = None) -> int:
    return comparison.run(
        argv, comparison.build_parser("python -m bench.compression", __doc__), measure, report
    )


if __name__ == "__main__":
    sys.exit(main())
