"""The attack benchmark's table and its targets (issue 12), from the figures `bench.attacks` gathers."""

from __future__ import annotations

from typing import Any

from bench.data import POSTGRESQL_ENV

SLOW_STOP_SECONDS = 3.0
# (figure, bound, what it means): each must stay at or under its bound for every attack.
TARGETS: list[tuple[str, float, str]] = [
    ("cpu_ms", 1000.0, "server CPU per request, ms (sequential or two at once)"),
    ("healthz_p99_ms", 50.0, "/healthz p99 while the attack runs, ms"),
    ("after_cpu_ms", 100.0, "server CPU in the second after an answer, ms"),
]


def _cpu(row: dict[str, Any]) -> float | None:
    values = [row.get("cpu_ms_per_request"), row.get("cpu_ms_per_request_concurrent")]
    present = [v for v in values if v is not None]
    return max(present) if present else None


def figure(row: dict[str, Any], name: str) -> float | None:
    return _cpu(row) if name == "cpu_ms" else row.get(name)


def _verdict(value: float | None, bound: float) -> str:
    return "not measured" if value is None else ("met" if value <= bound else "NOT met")


def targets(sections: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Per target, the worst attack over every database, and whether the bound held for all."""
    out = []
    for name, bound, meaning in TARGETS:
        measured = [
            (value, f"{section['server'].split()[0]}: {row['name']}")
            for section in sections
            for row in section["attacks"]
            if (value := figure(row, name)) is not None
        ]
        worst = max(measured, default=None)
        failing = [where for value, where in measured if value > bound]
        out.append(
            {
                "figure": name,
                "bound": bound,
                "meaning": meaning,
                "worst": worst[0] if worst else None,
                "worst_attack": worst[1] if worst else None,
                "met": None if worst is None else not failing,
                "not_met_by": failing,
            }  # fmt: skip
        )
    return out


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.1f}" if value < 100 else f"{value:,.0f}"


def _marks(row: dict[str, Any]) -> str:
    """Which targets this attack misses: C (CPU), H (/healthz), A (CPU after the answer)."""
    misses = [
        letter
        for letter, (name, bound, _) in zip("CHA", TARGETS, strict=True)
        if (value := figure(row, name)) is not None and value > bound
    ]
    return "".join(misses) or "-"


def _section_lines(section: dict[str, Any], repeats: int) -> list[str]:
    calibration = section["calibration"]
    lines = [
        "",
        f"{section['server']}: {section['logs']:,} logs, largest project {section['largest_logs']:,} "
        f"({section['location']})",
    ]
    if calibration:
        lines.append(
            f"  /healthz: {calibration['polls_per_second']:.0f} polls/s, "
            f"{calibration['poll_cpu_ms']:.2f} ms CPU each (subtracted); "
            f"idle workers {calibration['idle_cpu_ms_per_s']:.1f} ms CPU/s"
        )
    if section["server"].startswith("PostgreSQL") and not any(
        row.get("database_cpu_counted") for row in section["attacks"]
    ):
        lines.append("  PostgreSQL's processes are not visible in /proc here: CPU is the workers' only")
    header = (
        f"  {'attack':50s} {'bytes':>6s} {'answer':28s} {'wall ms':>8s} {'max':>8s} {'cpu/req':>8s} "
        f"{'cpu x2':>8s} {'hz p99':>7s} {'hz max':>7s} {'after':>6s} {'miss':>4s}"
    )
    lines.append(header)
    for row in section["attacks"]:
        label = f"{row['class']}. {row['title']}" if row["class"] else row["title"]
        if "skipped" in row:
            lines.append(f"  {label:50s} {row['bytes']:6d} skipped: {row['skipped']}")
            continue
        lines.append(
            f"  {label:50s} {row['bytes']:6d} {row['answer'][:28]:28s} {_ms(row['wall_ms']):>8s} "
            f"{_ms(row['wall_ms_max']):>8s} {_ms(row['cpu_ms_per_request']):>8s} "
            f"{_ms(row['cpu_ms_per_request_concurrent']):>8s} {_ms(row['healthz_p99_ms']):>7s} "
            f"{_ms(row['healthz_max_ms']):>7s} {_ms(row['after_cpu_ms']):>6s} {_marks(row):>4s}"
        )
        notes = []
        if len(row["answer"]) > 28:
            notes.append(f"answers: {row['answer']}")
        if not row.get("healthz_pinned", True):
            notes.append("/healthz connections did not land on both workers")
        if row["healthz_failures"]:
            notes.append(f"{row['healthz_failures']} /healthz polls failed")
        stop = row.get("server_stop", {})
        if stop.get("killed") or stop.get("leftovers_killed"):
            notes.append(f"the server did not stop on SIGINT: killed after {stop['seconds']:.0f} s")
        elif stop.get("seconds", 0) > SLOW_STOP_SECONDS:
            notes.append(f"the server took {stop['seconds']:.0f} s to stop on SIGINT")
        lines += [f"  {'':50s} {note}" for note in notes]
    lines.append(
        f"  wall ms: median of {repeats} sequential runs; max: of every run; cpu/req: the largest sequential "
        "run's; cpu x2: per request, two at once; hz: /healthz ms during the runs; after: CPU ms in the "
        "second after an answer (largest); miss: targets missed (C cpu, H /healthz, A after)"
    )
    return lines


def table(result: dict[str, Any]) -> str:
    machine = result["machine"]
    lines = [
        f"graphql_api attack benchmark: graphql-api serve --workers {result['workers']}, default settings, "
        f"loopback; {result['repeats']} sequential runs and one of two at once per attack, client timeout "
        f"{result['client_timeout_s']:g} s; {machine['cores']} cores, load average "
        f"{machine['load_before']:.1f} before, {machine['load_after']:.1f} after, {machine['seconds']:.0f} s"
    ]
    for section in result["datasets"]:
        lines += _section_lines(section, result["repeats"])
    if not result["postgresql"]:
        lines += [
            "",
            "PostgreSQL: not attacked; give a server's administrative database as "
            f"{POSTGRESQL_ENV}=postgresql+asyncpg://postgres@127.0.0.1:5432/postgres (or --postgresql URL)",
        ]
    lines += ["", "Targets (issue 12, every attack, every database):"]
    for target in result["targets"]:
        worst = (
            f"worst {_ms(target['worst'])} ({target['worst_attack']})" if target["worst"] is not None else ""
        )
        lines.append(
            f"  {target['meaning']:56s} <= {target['bound']:<6g} "
            f"{_verdict(target['worst'], target['bound']):8s} {worst}"
        )
        if target["not_met_by"]:
            lines.append(f"  {'':56s}    missed by: {', '.join(target['not_met_by'])}")
    lines += ["", summary_line(result)]
    return "\n".join(lines)


def summary_line(result: dict[str, Any]) -> str:
    """One line of name=value, as `python -m bench` ends: each target's worst attack per database
    (`pg_`: PostgreSQL, `-` when not attacked) and how many targets held."""
    figures: dict[str, float | None] = {}
    for prefix, backend in (("", "SQLite"), ("pg_", "PostgreSQL")):
        rows = [r for s in result["datasets"] if s["server"].startswith(backend) for r in s["attacks"]]
        for name, _, _ in TARGETS:
            values = [v for row in rows if (v := figure(row, name)) is not None]
            figures[f"{prefix}worst_{name}"] = max(values, default=None)
    pairs = [f"{name}={'-' if v is None else f'{v:.0f}'}" for name, v in figures.items()]
    met = sum(1 for t in result["targets"] if t["met"])
    return " ".join([*pairs, f"targets_met={met}/{len(result['targets'])}"])
