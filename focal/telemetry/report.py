"""`write_report`: one self-contained HTML page (inline CSS + SVG, no scripts, nothing fetched)."""

from __future__ import annotations

import datetime as dt
import html
from collections import defaultdict
from decimal import Decimal
from pathlib import Path
from typing import Any

from focal.telemetry.analytics import TelemetryAnalytics

__all__ = ["write_report"]

_TIER_COLORS = {"cheap": "#4caf50", "capable": "#2196f3", "premium": "#9c27b0"}
_PALETTE = ["#2196f3", "#ff9800", "#4caf50", "#e91e63", "#9c27b0", "#795548", "#607d8b"]


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _stacked_bars(series: list[dict[str, Any]], width: int = 720, height: int = 260) -> str:
    days = sorted({r["day"] for r in series})
    if not days:
        return "<p>No calls in this period.</p>"
    per_day: dict[str, dict[str, Decimal]] = defaultdict(dict)
    for r in series:
        per_day[r["day"]][r["tier"]] = per_day[r["day"]].get(r["tier"], Decimal(0)) + r["cost_usd"]
    top = max(sum(v.values()) for v in per_day.values()) or Decimal(1)
    step = (width - 60) / len(days)  # every day fits, however many: bars narrow, the chart never clips
    bar_w = step * 0.8
    parts = [f'<svg width="{width}" height="{height + 40}" role="img" aria-label="cost per day by tier">']
    for i, day in enumerate(days):
        x = 50 + i * step
        y = height
        for tier in ("cheap", "capable", "premium"):
            value = per_day[day].get(tier, Decimal(0))
            h = float(value / top) * (height - 20)
            if h <= 0:
                continue
            y -= h
            parts.append(
                f'<rect x="{x:.2f}" y="{y:.1f}" width="{bar_w:.2f}" height="{h:.1f}" fill="{_TIER_COLORS[tier]}">'
                f"<title>{_esc(day)} {tier}: ${value:.6f}</title></rect>"
            )
        if len(days) <= 16 or i % max(1, len(days) // 8) == 0:
            parts.append(f'<text x="{x}" y="{height + 15}" font-size="10">{_esc(day[5:])}</text>')
    parts.append(f'<text x="0" y="12" font-size="10">${top:.4f}</text>')
    legend_x = 50
    for tier, color in _TIER_COLORS.items():
        parts.append(
            f'<rect x="{legend_x}" y="{height + 25}" width="10" height="10" fill="{color}"/>'
            f'<text x="{legend_x + 14}" y="{height + 34}" font-size="11">{tier}</text>'
        )
        legend_x += 90
    parts.append("</svg>")
    return "".join(parts)


def _hbars(items: list[tuple[str, float]], label: str, width: int = 720) -> str:
    if not items:
        return "<p>Nothing to show.</p>"
    top = max(v for _, v in items) or 1.0
    row_h = 24
    parts = [f'<svg width="{width}" height="{row_h * len(items) + 10}" role="img" aria-label="{_esc(label)}">']
    for i, (name, value) in enumerate(items):
        w = value / top * (width - 260)
        y = 5 + i * row_h
        parts.append(
            f'<text x="0" y="{y + 15}" font-size="12">{_esc(name)}</text>'
            f'<rect x="170" y="{y}" width="{w:.1f}" height="18" fill="{_PALETTE[i % len(_PALETTE)]}"/>'
            f'<text x="{175 + w:.1f}" y="{y + 14}" font-size="11">{_esc(_fmt(value))}</text>'
        )
    parts.append("</svg>")
    return "".join(parts)


def _fmt(value: float) -> str:
    return f"{value:,.0f}" if float(value).is_integer() else f"{value:,.4f}"


def _table(rows: list[dict[str, Any]], columns: list[str]) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{_esc(r.get(c, ''))}</td>" for c in columns) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def write_report(
    path: Path | str, analytics: TelemetryAnalytics, *, tenant: str | None = None, since: dt.datetime | None = None
) -> Path:
    """Write the report; returns its path."""
    path = Path(path)
    savings = analytics.savings_vs_premium(tenant=tenant, since=since)
    over_time = analytics.cost_over_time(by="tier", tenant=tenant, since=since)
    providers = analytics.provider_usage(tenant=tenant, since=since)
    fallbacks = analytics.fallback_stats(tenant=tenant, since=since)
    causes: dict[str, int] = defaultdict(int)
    for step in fallbacks:
        for cause, n in step["causes"].items():
            causes[cause] += n
    scope = f"tenant {tenant}" if tenant else "all tenants"
    since_text = f" since {since.isoformat(timespec='minutes')}" if since else ""
    summary = [
        {"metric": "answered + failed attempts", "value": savings["calls"]},
        {"metric": "cost (USD)", "value": f"{savings['cost_usd']:.6f}"},
        {"metric": "same tokens on premium (USD)", "value": f"{savings['premium_cost_usd']:.6f}"},
        {
            "metric": "savings vs premium (USD)",
            "value": f"{savings['savings_usd']:.6f} ({savings['savings_percent']}%)",
        },
    ]
    page = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Focal telemetry report</title>
<style>
body {{ font-family: system-ui, sans-serif; margin: 2rem; color: #222; max-width: 60rem; }}
h1 {{ font-size: 1.5rem; }} h2 {{ font-size: 1.1rem; margin-top: 2rem; }}
table {{ border-collapse: collapse; margin: .5rem 0; }} td, th {{ border: 1px solid #ccc; padding: .25rem .6rem; }}
th {{ background: #f4f4f4; text-align: left; }}
</style></head><body>
<h1>Focal telemetry — {_esc(scope)}{_esc(since_text)}</h1>
<p>Generated {_esc(dt.datetime.now(dt.UTC).isoformat(timespec="seconds"))}. Savings vs premium: for each call, the
cost of the same tokens on the premium tier of the same provider, minus the actual cost.</p>
{_table(summary, ["metric", "value"])}
<h2>Cost over time by tier (USD per day)</h2>
{_stacked_bars(over_time)}
<h2>Provider mix (attempts)</h2>
{_hbars([(p["provider"], float(p["calls"])) for p in providers], "provider mix")}
{_table(providers, ["provider", "calls", "errors", "error_rate", "p50_latency_ms", "p95_latency_ms", "cost_usd"])}
<h2>Fallback causes</h2>
{_hbars(sorted(((c, float(n)) for c, n in causes.items()), key=lambda x: -x[1]), "fallback causes")}
{
        _table(
            [{**f, "causes": ", ".join(f"{k}: {v}" for k, v in f["causes"].items())} for f in fallbacks],
            ["step", "answered", "by_fallback", "fallback_rate", "causes"],
        )
    }
</body></html>
"""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(page, encoding="utf-8")
    return path
