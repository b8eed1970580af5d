"""The benchmark report: goals checked on the value or the ratio, the one table, the JSON rows (no timing)."""

from __future__ import annotations

import json
import math

import pytest

from benchmarks._report import Goal, document, format_table, measured, rows, skipped


@pytest.mark.parametrize(
    ("goal", "value", "ratio", "met"),
    [
        (Goal(op="<=", threshold=20), 20.0, None, True),
        (Goal(op="<=", threshold=20), 20.5, None, False),
        (Goal(op=">=", threshold=300), 300.0, 0.1, True),
        (Goal(op=">=", threshold=300), 299.9, 9.0, False),
        (Goal(op="<=", threshold=1.15, on="ratio"), 999.0, 1.1, True),
        (Goal(op="<=", threshold=1.15, on="ratio"), 1.0, 1.2, False),
        (Goal(op="<=", threshold=1.15, on="ratio"), 1.0, None, None),
        (Goal(op="<=", threshold=5), math.nan, None, None),
    ],
)
def test_goal_checks_the_value_or_the_ratio(goal: Goal, value: float, ratio: float | None, met: bool | None) -> None:
    assert goal.check(value, ratio) is met


def test_goal_text() -> None:
    assert Goal(op="<=", threshold=20).text("µs") == "<= 20 µs"
    assert Goal(op=">=", threshold=20_000).text("records/s") == ">= 20,000 records/s"
    assert Goal(op="<=", threshold=1.15, on="ratio").text("µs") == "ratio <= 1.15x"


def test_measured_computes_ratio_and_met_unless_given() -> None:
    plain = measured("b", "m", unit="µs", focal=3.0, baseline=1.5, includes="x", goal=Goal(op="<=", threshold=2.5))
    assert (plain.ratio, plain.met, plain.goal_text) == (2.0, False, "<= 2.5 µs")
    given = measured(
        "b",
        "m",
        unit="µs",
        focal=3.0,
        baseline=1.5,
        ratio=1.1,
        includes="x",
        goal=Goal(op="<=", threshold=1.15, on="ratio"),
    )
    assert (given.ratio, given.met) == (1.1, True)
    alone = measured("b", "m", unit="ms", focal=3.0, includes="x")
    assert (alone.baseline, alone.ratio, alone.met, alone.goal_text) == (None, None, None, None)
    assert measured("b", "m", unit="ms", focal=3.0, baseline=0.0, includes="x").ratio is None


def _metrics() -> list:
    return [
        measured(
            "resolver",
            "cached p99",
            unit="µs",
            focal=2.1,
            baseline=1.0,
            baseline_name="a plain dict",
            goal=Goal(op="<=", threshold=20),
            includes="SQLite; 10,000 tenants; cached",
        ),
        measured("resolver", "cold p50", unit="µs", focal=270.0, includes="SQLite; 10,000 tenants; cold"),
        measured(
            "turn",
            "throughput",
            unit="turns/s",
            focal=51.0,
            baseline=230.0,
            goal=Goal(op=">=", threshold=300),
            includes="default settings",
        ),
        skipped("turn", "throughput PostgreSQL", "skipped: PostgreSQL unreachable", unit="turns/s"),
    ]


def test_table_has_one_row_per_metric_and_notes_saying_what_each_includes() -> None:
    metrics = _metrics()
    text = format_table(metrics, title="T")
    lines = text.splitlines()
    assert lines[0] == "T"
    assert [h.strip() for h in lines[1].split("|")] == ["metric", "Focal", "baseline", "ratio", "goal", "met"]
    assert rows(metrics) == [
        ("resolver: cached p99 (µs) [1]", "2.10", "1.00", "2.10x", "<= 20 µs", "yes"),
        ("resolver: cold p50 (µs) [2]", "270.0", "-", "-", "-", "-"),
        ("turn: throughput (turns/s) [3]", "51.00", "230.0", "0.22x", ">= 300 turns/s", "NO"),
        ("turn: throughput PostgreSQL (turns/s) [4]", "skipped", "-", "-", "-", "skipped"),
    ]
    # what a benchmark's notes share is said once; each note keeps the rest
    assert "resolver (every measured row): SQLite; 10,000 tenants" in text
    assert "[1] cached; baseline: a plain dict" in text
    assert "[2] cold" in text
    assert "[3] default settings" in text
    assert "[4] skipped: PostgreSQL unreachable" in text


def test_numbers_are_readable() -> None:
    table = format_table([measured("b", "m", unit="", focal=48_765.4, baseline=0.000123, includes="")])
    assert "48,765" in table and "0.000123" in table


def test_json_document_has_every_row_and_the_metadata() -> None:
    nan_row = measured("b", "nan", unit="µs", focal=math.nan, includes="x")
    doc = document([*_metrics(), nan_row], {"date": "2026-12-05", "git_commit": "abc"})
    text = json.dumps(doc, allow_nan=False)  # strict JSON: NaN written as null
    loaded = json.loads(text)
    assert loaded["schema"] == 1 and loaded["date"] == "2026-12-05" and loaded["git_commit"] == "abc"
    assert [r["metric"] for r in loaded["metrics"]] == [
        "cached p99",
        "cold p50",
        "throughput",
        "throughput PostgreSQL",
        "nan",
    ]
    first = loaded["metrics"][0]
    assert first == {
        "benchmark": "resolver",
        "metric": "cached p99",
        "unit": "µs",
        "focal": 2.1,
        "baseline": 1.0,
        "baseline_name": "a plain dict",
        "ratio": 2.1,
        "goal": {"op": "<=", "threshold": 20, "on": "value"},
        "goal_text": "<= 20 µs",
        "met": True,
        "includes": "SQLite; 10,000 tenants; cached",
        "skipped": None,
    }
    assert loaded["metrics"][3]["skipped"] == "skipped: PostgreSQL unreachable"
    assert loaded["metrics"][3]["focal"] is None and loaded["metrics"][3]["met"] is None
    assert loaded["metrics"][4]["focal"] is None
