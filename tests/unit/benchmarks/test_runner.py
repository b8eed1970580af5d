"""The runner: one table for all benchmarks, the JSON document, unavailable and failing benchmarks reported as rows."""

from __future__ import annotations

import io
import json
from collections.abc import Sequence
from pathlib import Path

from benchmarks._report import Goal, Metric, measured
from benchmarks._runner import Options, Unavailable, run_benchmarks


def _fast(options: Options) -> Sequence[Metric]:
    print("fast: detailed report")
    value = 1.0 if options.quick else 2.0
    return [
        measured(
            "fast", "latency", unit="ms", focal=value, baseline=1.0, goal=Goal(op="<=", threshold=1.5), includes="x"
        )
    ]


def _local(options: Options) -> Sequence[Metric]:
    raise Unavailable("llama.cpp server not reachable at http://127.0.0.1:8080")


def _broken(options: Options) -> Sequence[Metric]:
    raise RuntimeError("boom")


def test_every_benchmark_in_one_table_and_json(tmp_path: Path) -> None:
    out, progress = io.StringIO(), io.StringIO()
    path = tmp_path / "run.json"
    status = run_benchmarks(
        {"fast": _fast, "local": _local}, Options(quick=True), json_path=path, out=out, progress=progress
    )
    assert status == 0
    text = out.getvalue()
    assert "fast: detailed report" not in text  # kept for the JSON, not printed without `detail`
    assert "--quick: smaller sizes" in text and "load average" in text
    assert "fast: latency (ms) [1]" in text and "local: (all) [2]" in text
    assert "skipped: llama.cpp server not reachable" in text
    assert "[1/2] fast ok" in progress.getvalue() and "[2/2] local skipped" in progress.getvalue()
    doc = json.loads(path.read_text())
    assert {
        "schema",
        "date",
        "git_commit",
        "python",
        "platform",
        "cpu_count",
        "options",
        "benchmarks",
        "metrics",
    } <= set(doc)
    assert doc["options"] == {"quick": True, "postgres": True}
    assert isinstance(doc["load_average_at_start"], float)
    assert doc["benchmarks"]["fast"]["status"] == "ok"
    assert doc["benchmarks"]["fast"]["report"] == "fast: detailed report\n"
    assert doc["benchmarks"]["local"]["status"] == "skipped"
    assert [(m["benchmark"], m["met"], m["skipped"]) for m in doc["metrics"]] == [
        ("fast", True, None),
        ("local", None, "skipped: llama.cpp server not reachable at http://127.0.0.1:8080"),
    ]


def test_detail_prints_the_report_and_a_failure_is_a_row_and_exit_status_1() -> None:
    out, progress = io.StringIO(), io.StringIO()
    status = run_benchmarks({"broken": _broken, "fast": _fast}, Options(), detail=True, out=out, progress=progress)
    assert status == 1
    text = out.getvalue()
    assert "fast: detailed report" in text
    assert "failed: RuntimeError: boom" in text
    assert "fast: latency (ms) [2]" in text and "NO" in text  # the others still ran
    assert "RuntimeError: boom" in progress.getvalue()  # the traceback
