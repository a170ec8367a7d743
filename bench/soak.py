"""`python -m bench.soak`: a fault soak. `graphql-api serve --workers 2` on a PostgreSQL cluster of its own
(initdb/pg_ctl on a free loopback port, as tests/scratch_cluster.py makes them) under a steady mix of
requests (pages, cursor connections, counts, stats, REST lists and counts) while a writer imports logs
with the CLI, and every `--fault-every` seconds one fault from the list is injected for `--fault-for`
seconds, then repaired:

    terminate   every backend of the database terminated, again and again
    refuse      ALTER DATABASE ... ALLOW_CONNECTIONS false (sessions cut)
    lock        the logs' table locked past LOCK_TIMEOUT_MS (default settings: TIMEOUT)
    exhaust     max_connections used up by another client
    password    the server's role's password changed (sessions cut), then changed back
    restart     the cluster stopped, then started
    kill        one worker SIGKILLed (the supervisor replaces it)

Reported: requests, their outcomes by code, p50/p99 per phase (steady, each fault, recovery), the
recovery time after each fault (from the repair until every kind of request was served again), rows
lost (logs of imports the CLI said were done that the database does not have: must be 0), and the
server's error-level log lines. Exit code 1 when an invariant breaks: an INTERNAL or a 500, an answer
that is not the fault's (SERVICE_UNAVAILABLE, TIMEOUT; no answer only for requests in flight on a
killed worker), an error-level log line, a lost row, or a recovery past 5 s.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from bench.soak_faults import FAULTS, PASSWORD, READER, Soak
from bench.soak_traffic import KINDS, Answer, Load, Writer, serving

# A PostgreSQL of the soak's own, made as the fault tests make theirs, to restart and break.
from tests.scratch_cluster import Cluster, scratch_cluster, why_not

RECOVERY_BOUND = 5.0
FAULT_CODES = {"SERVICE_UNAVAILABLE", "TIMEOUT"}


@dataclass
class Phase:
    name: str
    start: float
    end: float


def _recovery(load: Load, since: float, bound: float) -> float | None:
    """Seconds from `since` until every kind was answered ok, or None past `bound` (+ margin)."""
    deadline = since + bound + 5
    while time.monotonic() < deadline:
        firsts: dict[str, float] = {}
        for answer in load.since(since):
            if answer.outcome == "ok":
                firsts.setdefault(answer.kind, answer.sent + answer.took)
        if len(firsts) == len(KINDS):
            return max(firsts.values()) - since
        time.sleep(0.05)
    return None


def _ms(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    if len(values) == 1:
        return values[0] * 1000
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1] * 1000


def _cli(url: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "graphql_api", "--database-url", url, *args],
        capture_output=True,
        text=True,
        check=True,
        timeout=300,
    )
    return done.stdout


@dataclass
class Timeline:
    """What happened when: the phases, and the recovery after each fault."""

    phases: list[Phase] = field(default_factory=list)
    recoveries: dict[str, float | None] = field(default_factory=dict)


def _inject(soak: Soak, load: Load, *, seconds: float, every: float, lasting: float) -> Timeline:
    """Faults in FAULTS' order, one every `every` seconds for `lasting` seconds, for `seconds`."""
    timeline = Timeline()
    started = steady_from = time.monotonic()
    names = list(FAULTS)
    while steady_from + every <= started + seconds:
        time.sleep(max(0.0, steady_from + every - lasting - time.monotonic()))
        name = names[len(timeline.recoveries) % len(names)]
        fault_start = time.monotonic()
        timeline.phases.append(Phase("steady", steady_from, fault_start))
        FAULTS[name](soak, lasting)()  # the fault, then its repair
        repaired = time.monotonic()
        timeline.phases.append(Phase(f"fault {name}", fault_start, repaired))
        recovery = _recovery(load, repaired, RECOVERY_BOUND)
        timeline.recoveries[f"{len(timeline.recoveries) + 1}. {name}"] = recovery
        steady_from = repaired + (recovery or RECOVERY_BOUND)
        timeline.phases.append(Phase(f"recovery {name}", repaired, steady_from))
    time.sleep(max(0.0, started + seconds - time.monotonic()))
    timeline.phases.append(Phase("steady", steady_from, time.monotonic()))
    return timeline


def run(seconds: float, fault_every: float, fault_for: float, clients: int) -> dict[str, Any]:
    """The soak on a fresh cluster; its report."""
    with (
        tempfile.TemporaryDirectory(prefix="graphql-api-soak-") as directory,
        scratch_cluster(max_connections=40, superuser_reserved_connections=8) as cluster,
    ):
        admin_url = cluster.create_database("app")
        _cli(admin_url, "seed", "--demo", "--projects", "2", "--logs", "2000")
        project = json.loads(_cli(admin_url, "projects", "--json"))[0]["id"]
        created = _cli(
            admin_url, "api-key", "create", "--project-id", project, "--permission", "ReadWhatsAppLog"
        )
        key = created.strip().splitlines()[-1]
        cluster.create_reader("app", READER, PASSWORD)
        rows_before = _rows(cluster)
        with serving(cluster.url("app", READER, PASSWORD), Path(directory)) as server:
            soak = Soak(cluster, server)
            with (
                Load(server.url, key, clients) as load,
                Writer(admin_url, project, Path(directory)) as writer,
            ):
                timeline = _inject(soak, load, seconds=seconds, every=fault_every, lasting=fault_for)
            soak.runner.close()
            errors_logged = server.error_lines()
        missing = rows_before + writer.acknowledged - _rows(cluster)
    return {
        "seconds": seconds,
        "requests": len(load.answers),
        "outcomes": dict(Counter(a.outcome for a in load.answers).most_common()),
        **_latencies(load.answers, timeline.phases),
        "recovery_s": {name: None if r is None else round(r, 2) for name, r in timeline.recoveries.items()},
        "imports": {"acknowledged_rows": writer.acknowledged, "failed": writer.failed},
        "rows_lost": max(missing, 0),
        # An import whose COMMIT went through as its connection was cut: kept, though never acknowledged.
        "rows_kept_unacknowledged": max(-missing, 0),
        **_unexpected(load.answers, timeline.phases),
        "error_log_lines": errors_logged[:5],
    }


def _rows(cluster: Cluster) -> int:
    return int(cluster.sql("SELECT count(*) AS n FROM whatsapp_log", database="app")[0]["n"])


def _latencies(answers: list[Answer], phases: list[Phase]) -> dict[str, Any]:
    """p50 and p99 per phase (by the time a request was sent; repeated phases together)."""
    took: dict[str, list[float]] = {}
    for phase in phases:
        took.setdefault(phase.name, []).extend(a.took for a in answers if phase.start <= a.sent < phase.end)
    return {
        "p50_ms": {name: round(_ms(values, 50), 1) for name, values in took.items()},
        "p99_ms": {name: round(_ms(values, 99), 1) for name, values in took.items()},
    }


def _unexpected(answers: list[Answer], phases: list[Phase]) -> dict[str, Any]:
    """Answers that are neither ok nor the fault's: a request that overlapped a fault or its recovery
    may get SERVICE_UNAVAILABLE or TIMEOUT (or, in flight on a killed worker, no answer); any other must
    be answered ok."""
    faulty = [phase for phase in phases if phase.name != "steady"]
    bad = []
    for answer in answers:
        if answer.outcome == "ok":
            continue
        overlapped = [p for p in faulty if answer.sent < p.end and answer.sent + answer.took >= p.start]
        allowed = set(FAULT_CODES) if overlapped else set()
        if any(p.name.endswith("kill") for p in overlapped):
            allowed.add("no answer")
        if not set(answer.outcome.split("+")) <= allowed:
            bad.append(f"{', '.join(p.name for p in overlapped) or 'steady'}: {answer.kind} {answer.outcome}")
    return {"unexpected_answers": bad[:20], "unexpected_count": len(bad)}


def _internal(report: dict[str, Any]) -> int:
    return sum(n for outcome, n in report["outcomes"].items() if "INTERNAL" in outcome or "http 5" in outcome)


def _ok(report: dict[str, Any]) -> bool:
    recovered = all(r is not None and r <= RECOVERY_BOUND for r in report["recovery_s"].values())
    clean = not (_internal(report) or report["unexpected_count"] or report["error_log_lines"])
    return recovered and clean and report["rows_lost"] == 0


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.soak", description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=300, help="length of the soak (default 300)")
    parser.add_argument("--quick", action="store_true", help="60 s, a 3 s fault every 7 s: each fault once")
    parser.add_argument("--fault-every", type=float, help="seconds between faults (default 30)")
    parser.add_argument("--fault-for", type=float, help="seconds each fault lasts (default 5)")
    parser.add_argument("--clients", type=int, default=6, help="client threads (default 6)")
    parser.add_argument("--json", type=Path, help="write the report here too")
    args = parser.parse_args(argv)
    if reason := why_not():
        print(f"error: cannot run a PostgreSQL cluster here: {reason}", file=sys.stderr)
        return 2
    seconds = 60.0 if args.quick else args.seconds
    fault_every = args.fault_every or (7.0 if args.quick else 30.0)
    fault_for = args.fault_for or (3.0 if args.quick else 5.0)
    report = run(seconds, fault_every, fault_for, args.clients)
    text = json.dumps(report, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")
    ok = _ok(report)
    recoveries = [r if r is not None else float("inf") for r in report["recovery_s"].values()]
    print(
        f"requests={report['requests']} internal_or_500={_internal(report)}"
        f" unexpected={report['unexpected_count']} rows_lost={report['rows_lost']}"
        f" faults={len(recoveries)} max_recovery_s={max(recoveries, default=0):.2f} ok={ok}"
    )
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
