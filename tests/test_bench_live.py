"""`python -m bench.live` runs end to end at a tiny size: a server, a client process, a writer, a report."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_the_live_bench_delivers_every_log_once_and_reports_each_figure(tmp_path: Path) -> None:
    report = tmp_path / "live.json"
    command = [sys.executable, "-m", "bench.live", "--backend", "sqlite", "--subscriptions", "5"]
    command += ["--seconds", "2", "--grace", "10", "--json", str(report)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr[-2000:]
    section = json.loads(report.read_text())["backends"]["sqlite"]
    assert section["connect"]["connected"] == 5
    deliveries = section["deliveries"]
    assert deliveries["delivered"] > 0
    assert (deliveries["lost"], deliveries["repeated"], deliveries["foreign"]) == (0, 0, 0)
    assert deliveries["ended"] == 0
    for figure in ("p50_ms", "p99_ms", "max_ms"):
        assert deliveries[figure] is not None and deliveries[figure] >= 0
    assert section["cpu"]["cpu_ms_per_log"] > 0
    assert section["memory"]["kb_per_idle_subscription"] is not None
    assert section["writer"]["changes"] > 0 and section["writer"]["error_count"] == 0
    assert section["window"]["drain_seconds"] is not None
    last_line = done.stdout.strip().splitlines()[-1]
    pairs = dict(pair.split("=", 1) for pair in last_line.split())
    assert {"p50_ms", "p99_ms", "max_ms", "cpu_ms_per_log", "kb_per_sub", "lost", "repeated"} <= set(pairs)
    assert (pairs["lost"], pairs["repeated"]) == ("0", "0")
