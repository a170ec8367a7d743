"""`python -m bench.checks_floor`: the server, the floor, and the floor with the server's checks.

`graphql-api serve --workers 2` on SQLite (LOG_LEVEL=info, as `python -m bench --floor` runs it), the floor
(bench/floor_app.py) and the floor with the server's checks called directly (bench/checks_floor_app.py),
loaded in turn with the page of 100 and of 10 for `--rounds` interleaved rounds, as bench/floor.py loads
them. Reported per page: medians of req/s and the workers' CPU per request, and each one's req/s over the
floor's in the same round (`of_floor`, and each round's), and the busiest worker's part of the workers'
CPU (0.5: the connections spread evenly; more, and that worker capped the run). The checked floor's
`of_floor` is what the server would reach if everything it does besides its checks cost nothing; the
three answers are compared byte for byte first. On a shared machine rounds differ by a tenth or more:
run enough of them (`--rounds`).
"""

from __future__ import annotations

import argparse
import statistics
import sys
from collections.abc import Sequence
from contextlib import ExitStack

from bench import queries as q
from bench.data import plan_for, prepare
from bench.floor import FLOOR_PROGRAM, SERVER_ENV, Run, check_same, floor_serving, load, spec_for
from bench.server import Served, serving

CHECKED_PROGRAM = (FLOOR_PROGRAM[0], "-m", "bench.checks_floor_app")
NAMES = ("server", "floor", "checked floor")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.checks_floor", description=__doc__)
    parser.add_argument("--logs", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    data = prepare(plan_for(args.logs))
    spec = spec_for(data, {100: q.page(100), 10: q.page(10)})
    headers = {"Content-Type": "application/json", "ApiKey": data.keys[data.largest_project]}
    runs: dict[tuple[int, str], list[Run]] = {}
    with ExitStack() as stack:
        targets: dict[str, Served] = {
            "server": stack.enter_context(serving(data, workers=2, env=SERVER_ENV)),
            "floor": stack.enter_context(floor_serving(data, spec, workers=2)),
            "checked floor": stack.enter_context(
                floor_serving(data, spec, workers=2, env=SERVER_ENV, program=CHECKED_PROGRAM)
            ),
        }
        for page in spec.pages:
            check_same(targets["server"], targets["floor"], page, headers)
            check_same(targets["checked floor"], targets["floor"], page, headers)
            for served in targets.values():
                load(served, page.body.decode(), headers, seconds=min(2.0, args.seconds))  # warm
        for round_ in range(args.rounds):
            for rows, page in zip((100, 10), spec.pages, strict=True):
                names = NAMES if round_ % 2 == 0 else tuple(reversed(NAMES))
                for name in names:
                    run = load(targets[name], page.body.decode(), headers, seconds=args.seconds)
                    runs.setdefault((rows, name), []).append(run)
    print(
        f"{data.server}, {args.logs:,} logs, 2 workers each, {args.rounds} interleaved rounds of "
        f"{args.seconds:g} s; medians"
    )
    print(
        f"  {'rows':>4s} {'':14s} {'req/s':>8s} {'cpu ms/req':>10s} {'of_floor':>8s} {'errors':>6s} "
        f"{'busiest':>7s}  rounds"
    )
    for rows in (100, 10):
        floors = runs[rows, "floor"]
        for name in NAMES:
            measured = runs[rows, name]
            ratios = [r.req_s / f.req_s for r, f in zip(measured, floors, strict=True)]
            of_floor = statistics.median(ratios)
            print(
                f"  {rows:4d} {name:14s} {statistics.median(r.req_s for r in measured):8.0f} "
                f"{statistics.median(r.cpu_ms_per_request for r in measured):10.3f} {of_floor:8.2f} "
                f"{sum(r.errors for r in measured):6d} {max(r.busiest_worker for r in measured):7.2f}  "
                + " ".join(f"{ratio:.2f}" for ratio in ratios)
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
