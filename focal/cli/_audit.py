"""`focal audit list|show`: alignment turns, and why each reply was what it was."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import typer

from focal.alignment.audit import TurnStore, TurnSummary
from focal.alignment.turn import ScenarioMove, TurnRecord
from focal.cli._common import JSON_OPTION, console, fail, handle_errors, money, print_json, print_table, settings
from focal.cli._telemetry import MAX_ROWS
from focal.storage import make_sync_engine, require_schema

app = typer.Typer(
    help="Alignment turns: rules kept or dropped, scenario path, tools, verdicts, models and costs.",
    no_args_is_help=True,
)

TENANT = typer.Option(..., "--tenant", "-t", help="The tenant whose turns to read.")


@contextmanager
def _store() -> Iterator[TurnStore]:
    url = settings().resolved_database_url
    require_schema(url)
    engine = make_sync_engine(url)
    try:
        yield TurnStore(engine=engine)
    finally:
        engine.dispose()


def _summary_row(s: TurnSummary) -> dict[str, Any]:
    return {
        "created_at": s.created_at,
        "tenant_id": s.tenant_id,
        "agent_id": s.agent_id,
        "session_id": s.session_id,
        "turn_number": s.turn_number,
        "turn_id": s.turn_id,
        "run_id": s.run_id,
        "user_id": s.user_id,
        "config_version": s.config_version,
        "status": s.status,
        "reply": s.reply,
        "input_tokens": s.input_tokens,
        "output_tokens": s.output_tokens,
        "cost_usd": s.cost_usd,
        "latency_ms": s.latency_ms,
    }


def _short(text: str, width: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= width else line[: width - 1] + "…"


@app.command("list")
@handle_errors
def list_cmd(
    tenant: str = TENANT,
    agent: str | None = typer.Option(None, "--agent", "-a", help="Only this agent's turns."),
    limit: int = typer.Option(50, "--limit", "-n", min=1),
    as_json: bool = JSON_OPTION,
) -> None:
    """A tenant's latest turns, newest first (default: 50)."""
    if limit > MAX_ROWS:
        raise fail(f"--limit {limit}: at most {MAX_ROWS}")
    with _store() as store:
        turns = store.list(tenant, agent, limit)
    if as_json:
        print_json([_summary_row(s) for s in turns])
        return
    print_table(
        f"Alignment turns: tenant {tenant} (newest first)",
        ["time", "agent", "session", "turn", "status", "config", "tokens in/out", "cost", "ms", "reply"],
        [
            (
                s.created_at.isoformat(timespec="seconds"),
                s.agent_id,
                s.session_id,
                s.turn_number,
                s.status,
                s.config_version,
                f"{s.input_tokens}/{s.output_tokens}",
                money(s.cost_usd),
                f"{s.latency_ms:.0f}",
                _short(s.reply),
            )
            for s in turns
        ],
    )


@app.command("show")
@handle_errors
def show_cmd(
    session: str = typer.Argument(..., help="The session id, as the turn was run with."),
    tenant: str = TENANT,
    turn: int | None = typer.Option(None, "--turn", help="Only this turn (default: every turn, in order).", min=1),
    as_json: bool = JSON_OPTION,
) -> None:
    """Why each reply: rules kept or dropped, scenario path, tools, attempts and verdicts, models, costs."""
    with _store() as store:
        records = store.get(tenant, session, turn)
    if as_json:
        print_json([row for record in records for row in _json_rows(record)])
        return
    for index, record in enumerate(records):
        if index:
            console.print()
        for line in explain_turn(record):
            console.print(line, markup=False, soft_wrap=True)


# --- the readable explanation ----------------------------------------------------------------


def _place(scenario: str | None, step: str | None) -> str:
    if scenario is None:
        return "(no scenario)"
    return f"{scenario}/{step}" if step else scenario


def _scenario_path(move: ScenarioMove) -> str:
    before, after = _place(move.before_scenario, move.before_step), _place(move.after_scenario, move.after_step)
    path = f"{move.action}: {before} → {after}"
    if move.skipped_steps:
        path += f" (skipped: {', '.join(move.skipped_steps)})"
    return path + (f" — {move.reason}" if move.reason else "")


def explain_turn(r: TurnRecord) -> list[str]:
    """The lines `focal audit show` prints for one turn."""
    who = ", ".join(
        part
        for part in (
            f"turn id {r.turn_id}",
            f"run {r.run_id}" if r.run_id else "",
            f"user {r.user_id}" if r.user_id else "",
            f"config {r.config_version}",
        )
        if part
    )
    lines = [
        f"Turn {r.turn_number} of session {r.session_id} (tenant {r.tenant_id}, agent {r.agent_id}), "
        f"{r.created_at.isoformat(timespec='seconds')}",
        f"  {who}",
    ]
    if r.reconciliation:
        lines.append(f"  reconciliation: {r.reconciliation}")
    lines.append(f"  message: {r.message}")
    if r.intent:
        lines.append(f"  intent: {r.intent}")
    for name, why in sorted(r.rejected_values.items()):
        lines.append(f"  value not taken: {name}: {why}")
    lines.append(f"  reply: {r.reply}")
    lines.append("  rules:" if r.rules else "  rules: none considered")
    width = max((len(o.rule_id) for o in r.rules), default=0)
    for o in r.rules:
        lines.append(f"    {'kept   ' if o.kept else 'dropped'}  {o.rule_id:<{width}}  by {o.decided_by}: {o.reason}")
    lines.append(f"  scenario: {_scenario_path(r.scenario)}")
    lines.append("  tools:" if r.tools else "  tools: none")
    for t in r.tools:
        status = "ok" if t.ok else f"error: {t.error or 'failed'}"
        extra = ", ".join(["required"] * t.required + [f"bound by {t.bound_by}"] * bool(t.bound_by))
        lines.append(f"    {t.tool_id}: {status}, {t.elapsed_ms:.0f} ms" + (f" ({extra})" if extra else ""))
    lines.append("  generation:" if r.attempts else "  generation: no attempt recorded")
    for a in r.attempts:
        source = a.source + (f" {a.template_id}" if a.template_id else "")
        verdict = "passed" if a.passed else "refused"
        lines.append(f"    attempt {a.number} ({source}): {verdict}: {_short(a.reply, 100)}")
        for v in a.verdicts:
            lines.append(f"      {'complies' if v.complies else 'violates'} {v.rule_id} (by {v.by}): {v.reason}")
    e = r.enforcement
    violations = f"; violations: {', '.join(e.violations)}" if e.violations else ""
    lines.append(f"  enforcement: {e.status} after {e.attempts} attempt{'s' * (e.attempts != 1)}{violations}")
    lines.append("  models:" if r.models else "  models: none called")
    for m in r.models:
        lines.append(
            f"    {m.step}: {m.model}, {m.attempts} attempt{'s' * (m.attempts != 1)}, "
            f"tokens {m.input_tokens}/{m.output_tokens}, {money(m.cost_usd)}, {m.latency_ms:.0f} ms — {m.reason}"
        )
    if r.skipped_calls:
        lines.append("  skipped calls:")
        lines.extend(f"    {s.step}: {s.reason}" for s in r.skipped_calls)
    lines.append(
        f"  totals: tokens {r.input_tokens} in / {r.output_tokens} out, {money(r.cost_usd)}, {r.latency_ms:.0f} ms"
    )
    return lines


# --- --json: flat rows, one per turn, rule, tool, attempt, verdict, model and skipped call ----------


def _json_rows(r: TurnRecord) -> list[dict[str, Any]]:
    head = {"tenant_id": r.tenant_id, "session_id": r.session_id, "turn_number": r.turn_number}
    move, e = r.scenario, r.enforcement
    rows: list[dict[str, Any]] = [
        {
            **head,
            "kind": "turn",
            "turn_id": r.turn_id,
            "agent_id": r.agent_id,
            "run_id": r.run_id,
            "user_id": r.user_id,
            "created_at": r.created_at,
            "config_version": r.config_version,
            "reconciliation": r.reconciliation,
            "message": r.message,
            "intent": r.intent,
            "rejected_values": "; ".join(f"{k}: {v}" for k, v in sorted(r.rejected_values.items())) or None,
            "reply": r.reply,
            "scenario_action": move.action,
            "scenario_before": move.before_scenario,
            "step_before": move.before_step,
            "scenario_after": move.after_scenario,
            "step_after": move.after_step,
            "skipped_steps": list(move.skipped_steps),
            "scenario_reason": move.reason,
            "status": e.status,
            "attempts": e.attempts,
            "violations": list(e.violations),
            "input_tokens": r.input_tokens,
            "output_tokens": r.output_tokens,
            "cost_usd": r.cost_usd,
            "latency_ms": r.latency_ms,
        }
    ]
    rows += [{**head, "kind": "rule", **o.model_dump()} for o in r.rules]
    rows += [
        {
            **head,
            "kind": "tool",
            **t.model_dump(exclude={"arguments", "output"}),
            "arguments": json.dumps(t.arguments, sort_keys=True, default=str),
            "output": json.dumps(t.output, sort_keys=True, default=str),
        }
        for t in r.tools
    ]
    for a in r.attempts:
        rows.append({**head, "kind": "attempt", **a.model_dump(exclude={"verdicts"}), "passed": a.passed})
        rows += [{**head, "kind": "verdict", "attempt": a.number, **v.model_dump()} for v in a.verdicts]
    rows += [{**head, "kind": "model", **m.model_dump()} for m in r.models]
    rows += [{**head, "kind": "skipped_call", **s.model_dump()} for s in r.skipped_calls]
    return rows
