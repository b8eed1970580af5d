"""One alignment turn as `focal demo` and `focal chat` show it: the reply and a compact panel, or a flat
JSON object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from rich.console import Group
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from focal.alignment import TurnResult
from focal.cli._common import money
from focal.routing import Resolution

__all__ = ["turn_object", "turn_panel"]


def _step(result: TurnResult) -> str:
    if result.scenario is None:
        return "(no scenario)"
    return f"{result.scenario}/{result.step}" if result.step else result.scenario


def _verdict(result: TurnResult) -> str:
    e = result.enforcement
    text = f"{e.status} after {e.attempts} attempt{'s' * (e.attempts != 1)}"
    return text + (f" (violations: {', '.join(e.violations)})" if e.violations else "")


def _tools(result: TurnResult) -> str:
    if not result.tools:
        return "none"
    return ", ".join(f"{t.tool_id} {'ok' if t.ok else 'failed'}" for t in result.tools)


def _models(result: TurnResult, resolutions: Mapping[str, Resolution]) -> list[tuple[str, str, str, str]]:
    """(step, model, source, tokens · cost · latency) for every step that called a model."""
    rows = []
    for m in result.models:
        resolution = resolutions.get(m.step)
        source = resolution.source.value if resolution is not None else "?"
        retries = f", {m.attempts} attempts" if m.attempts != 1 else ""
        cost = f"{m.input_tokens}/{m.output_tokens} tok · {money(m.cost_usd)} · {m.latency_ms:.0f} ms{retries}"
        rows.append((m.step, m.model, source, cost))
    return rows


def turn_panel(title: str, message: str, result: TurnResult, resolutions: Mapping[str, Resolution]) -> Group:
    """The user's message, the reply, and a panel: rules kept, scenario step, tools, enforcement verdict,
    the model of each step with where it came from, tokens, cost and latency."""
    facts = Table.grid(padding=(0, 2))
    facts.add_column(style="dim", no_wrap=True)
    facts.add_column()
    facts.add_row("rules kept", ", ".join(result.matched_rules) or "none")
    facts.add_row("scenario", _step(result))
    facts.add_row("tools", _tools(result))
    facts.add_row("enforcement", _verdict(result))
    models = Table(box=None, show_header=False, padding=(0, 2, 0, 0))
    for _ in range(4):
        models.add_column()
    for row in _models(result, resolutions):
        models.add_row(*row)
    facts.add_row("models", models if result.models else "none called (every step decided without a model)")
    totals = (
        f"{result.input_tokens} in / {result.output_tokens} out tokens · {money(result.cost_usd)} · "
        f"{result.latency_ms / 1000:.1f} s · config {result.config_version[:12]}"
    )
    facts.add_row("turn", totals)
    return Group(
        Text.assemble(("user  ", "bold cyan"), message),
        Text.assemble(("agent ", "bold green"), result.reply),
        Panel(facts, title=title, title_align="left", border_style="dim"),
    )


def turn_object(tenant_id: str, agent_id: str, result: TurnResult, message: str) -> dict[str, Any]:
    """The turn as one flat JSON object (`--json`)."""
    return {
        "tenant_id": tenant_id,
        "agent_id": agent_id,
        "turn": result.turn_number,
        "turn_id": result.turn_id,
        "message": message,
        "reply": result.reply,
        "rules": list(result.matched_rules),
        "scenario": result.scenario,
        "step": result.step,
        "tools": [t.tool_id for t in result.tools],
        "tools_failed": [t.tool_id for t in result.tools if not t.ok],
        "verdict": result.enforcement.status,
        "violations": list(result.enforcement.violations),
        "models": [f"{m.step}={m.model}" for m in result.models],  # flat, as every `--json` row
        "input_tokens": result.input_tokens,
        "output_tokens": result.output_tokens,
        "cost_usd": result.cost_usd,
        "latency_ms": round(result.latency_ms, 1),
        "config_version": result.config_version,
    }
