"""The HTML report drawn from analytics results (a stand-in analytics object; no database)."""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Any

from focal.telemetry import write_report
from focal.telemetry.analytics import _percentile

D = Decimal


class Canned:
    """Answers the four analytics queries the report makes."""

    def __init__(self, *, empty: bool = False) -> None:
        self.empty = empty

    def savings_vs_premium(self, **_: Any) -> dict[str, Any]:
        if self.empty:
            return {"calls": 0, "cost_usd": D(0), "premium_cost_usd": D(0), "savings_usd": D(0), "savings_percent": 0.0}
        return {
            "calls": 7,
            "cost_usd": D("0.25"),
            "premium_cost_usd": D("1"),
            "savings_usd": D("0.75"),
            "savings_percent": 75.0,
        }

    def cost_over_time(self, **_: Any) -> list[dict[str, Any]]:
        if self.empty:
            return []
        return [
            {"day": "2026-11-20", "tier": "cheap", "cost_usd": D("0.05")},
            {"day": "2026-11-20", "tier": "premium", "cost_usd": D("0.10")},
            {"day": "2026-11-21", "tier": "capable", "cost_usd": D("0.10")},
        ]

    def provider_usage(self, **_: Any) -> list[dict[str, Any]]:
        if self.empty:
            return []
        return [
            {
                "provider": "<b>openai</b>",
                "calls": 5,
                "errors": 1,
                "error_rate": 0.2,
                "p50_latency_ms": 120.0,
                "p95_latency_ms": 480.0,
                "cost_usd": D("0.2"),
            },
            {
                "provider": "anthropic",
                "calls": 2,
                "errors": 0,
                "error_rate": 0.0,
                "p50_latency_ms": 90.0,
                "p95_latency_ms": 95.0,
                "cost_usd": D("0.05"),
            },
        ]

    def fallback_stats(self, **_: Any) -> list[dict[str, Any]]:
        if self.empty:
            return []
        return [
            {
                "step": "generation",
                "calls": 6,
                "answered": 4,
                "by_fallback": 2,
                "fallback_rate": 0.5,
                "causes": {"RateLimitError": 1, "circuit_open": 1},
            }
        ]


def test_report_draws_three_charts_and_the_numbers(tmp_path: Path) -> None:
    page = write_report(tmp_path / "r.html", Canned()).read_text()  # type: ignore[arg-type]
    assert page.count("<svg") == 3
    # stacked bars: 2 days, 3 tier segments, scaled to the tallest day (0.15 USD = 240 px)
    segments = re.findall(r'height="([\d.]+)" fill="#[0-9a-f]+"><title>([^<]+)</title>', page)
    assert segments == [
        ("80.0", "2026-11-20 cheap: $0.050000"),
        ("160.0", "2026-11-20 premium: $0.100000"),
        ("160.0", "2026-11-21 capable: $0.100000"),
    ]
    assert ">11-20</text>" in page and ">11-21</text>" in page
    assert "0.750000 (75.0%)" in page and "0.250000" in page and "1.000000" in page
    assert "&lt;b&gt;openai&lt;/b&gt;" in page and "<b>openai" not in page  # names are escaped
    assert "RateLimitError: 1, circuit_open: 1" in page and "480.0" in page
    assert "<script" not in page and "http" not in page.replace('lang="en"', "")


def test_report_on_an_empty_database(tmp_path: Path) -> None:
    page = write_report(tmp_path / "sub" / "r.html", Canned(empty=True)).read_text()  # type: ignore[arg-type]
    assert "No calls in this period." in page and page.count("Nothing to show.") == 2


def test_percentile_is_nearest_rank() -> None:
    values = [float(v) for v in range(20, 0, -1)]  # unsorted on purpose
    assert (_percentile(values, 50), _percentile(values, 95), _percentile(values, 100)) == (10.0, 19.0, 20.0)
    assert _percentile([7.0], 95) == 7.0 and _percentile([], 50) is None
    assert (_percentile([100.0, 300.0], 50), _percentile([100.0, 300.0], 95)) == (100.0, 300.0)
