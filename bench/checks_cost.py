"""`python -m bench.checks_cost`: what each of the server's checks costs under load, by switching it off.

`graphql-api serve --workers 2` on SQLite, loaded with the page of 10 as `python -m bench --floor` loads
it (the server at LOG_LEVEL=info, as by default), once with every check and once per setting that turns
one off (the request log line, metrics, the key gate, the work budget, the time limit), then all five
off; the floor before and after for reference. Reported: req/s and the workers' CPU per request, medians
over `--rounds` loads of `--seconds` each, and the busiest worker's part of the CPU. A check's cost is the
difference of CPU per request with and without it; on a shared machine read differences under about
0.01 ms as noise.
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence

from bench import queries as q
from bench.data import plan_for, prepare
from bench.floor import SERVER_ENV, Run, floor_serving, load, spec_for
from bench.server import Served, serving

ALL_OFF = {
    "LOG_LEVEL": "warning",
    "METRICS": "false",
    "MAX_REQUESTS_PER_KEY": "0",
    "REQUEST_WORK_SECONDS": "0",
    "REQUEST_TIMEOUT_SECONDS": "0",
}
SETTINGS = {
    "every check": {},
    "no request log line": {"LOG_LEVEL": "warning"},
    "no metrics": {"METRICS": "false"},
    "no key gate": {"MAX_REQUESTS_PER_KEY": "0"},
    "no work budget": {"REQUEST_WORK_SECONDS": "0"},
    "no time limit": {"REQUEST_TIMEOUT_SECONDS": "0"},
    "none of those five": ALL_OFF,
}


def _measure(served: Served, body: str, headers: dict[str, str], rounds: int, seconds: float) -> str:
    load(served, body, headers, seconds=min(2.0, seconds))  # warm
    runs: list[Run] = [load(served, body, headers, seconds=seconds) for _ in range(rounds)]
    req_s = statistics.median(r.req_s for r in runs)
    cpu = statistics.median(r.cpu_ms_per_request for r in runs)
    return f"{req_s:8.0f} {cpu:10.3f} {max(r.busiest_worker for r in runs):7.2f}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.checks_cost", description=__doc__)
    parser.add_argument("--logs", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--seconds", type=float, default=5.0)
    args = parser.parse_args(argv)
    data = prepare(plan_for(args.logs))
    spec = spec_for(data, {10: q.page(10)})
    body = spec.pages[0].body.decode()
    headers = {"Content-Type": "application/json", "ApiKey": data.keys[data.largest_project]}
    print(
        f"{data.server}, {args.logs:,} logs, page of 10, 2 workers, {args.rounds} loads of {args.seconds:g} s"
    )
    print(f"  {'':24s} {'req/s':>8s} {'cpu ms/req':>10s} {'busiest':>7s}")
    with floor_serving(data, spec, workers=2) as floor:
        print(f"  {'floor':24s} {_measure(floor, body, headers, args.rounds, args.seconds)}", flush=True)
        for name, env in SETTINGS.items():
            with serving(data, workers=2, env={**SERVER_ENV, **env}) as server:
                print(
                    f"  {name:24s} {_measure(server, body, headers, args.rounds, args.seconds)}", flush=True
                )
        print(f"  {'floor, again':24s} {_measure(floor, body, headers, args.rounds, args.seconds)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
