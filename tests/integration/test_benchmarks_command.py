"""`python -m benchmarks NAME --quick --json FILE` end to end on the smallest benchmark (the resolver's)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent


def test_resolver_quick_writes_the_table_and_json(tmp_path: Path) -> None:
    path = tmp_path / "resolver.json"
    done = subprocess.run(
        [sys.executable, "-m", "benchmarks", "resolver", "--quick", "--tenants", "200", "--json", str(path)],
        cwd=REPO,
        env={**os.environ, "AGNO_TELEMETRY": "false"},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "cached  p50" in done.stdout  # the module's detailed report
    assert "resolver: cached p99 (µs)" in done.stdout  # and the table
    doc = json.loads(path.read_text())
    assert doc["schema"] == 1 and doc["options"]["quick"] is True
    assert doc["benchmarks"]["resolver"]["status"] == "ok"
    assert [m["metric"] for m in doc["metrics"]] == ["cached p50", "cached p99", "cold p50"]
    for row in doc["metrics"]:
        assert set(row) == {
            "benchmark",
            "metric",
            "unit",
            "focal",
            "baseline",
            "baseline_name",
            "ratio",
            "goal",
            "goal_text",
            "met",
            "includes",
            "skipped",
        }
        assert row["benchmark"] == "resolver" and row["skipped"] is None
        assert isinstance(row["focal"], float) and row["focal"] > 0 and row["includes"]
    goal = doc["metrics"][1]
    assert goal["goal"] == {"op": "<=", "threshold": 20, "on": "value"}
    assert isinstance(goal["met"], bool)
