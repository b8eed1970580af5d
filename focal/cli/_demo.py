"""`focal demo`: the main job on the embedded default — two tenants hold real conversations through the
alignment workflow, each turn explained, then what it all cost."""

from __future__ import annotations

import asyncio
import datetime as dt
import uuid
from collections import Counter
from typing import Any

import typer
from rich.console import Console
from sqlalchemy.engine import make_url

from focal.app import Focal
from focal.cli._common import (
    JSON_OPTION,
    console,
    conversation_settings,
    err_console,
    handle_errors,
    interruptible,
    money,
    print_json,
    print_table,
    quiet_logs_for_conversation,
)
from focal.cli._local import start_local_model_if_needed
from focal.cli._turn_view import turn_object, turn_panel
from focal.telemetry import TelemetryAnalytics, write_report
from focal.tools import seed_demo_data

AGENT = "support"
USERS = {"acme": "u-42", "globex": "u-42"}
"""The demo tenants and the customer (the host's user id) talking to each; same agent id in both."""
CONVERSATION = (
    "Hi there!",
    "Where is my order ORD-12345?",
    "I want a refund of $80 for order ORD-12345.",
    "Can I sue you over the late delivery? I want to talk to a lawyer.",
)
"""A greeting; an order status (the lookup tool); a refund above the $50 limit (a hard rule: enforcement
steps in when the reply approves it); a legal question (the EXCLUSIVE legal notice)."""
OVERRIDE_TENANT, OVERRIDE_STEP = "globex", "generation"
REPORT_FILE = "focal-demo-report.html"


@handle_errors
def demo(as_json: bool = JSON_OPTION) -> None:
    """Hold a scripted conversation for two tenants through the alignment workflow (on the local model when
    no provider key is set), show why each reply is what it is, then what the calls cost."""
    quiet_logs_for_conversation()
    asyncio.run(interruptible(_demo(as_json)))


async def _demo(as_json: bool) -> None:
    out = err_console if as_json else console  # with --json, stdout carries only the JSON
    started = dt.datetime.now(dt.UTC)
    with out.status("opening the database and the shipped support agent…"):
        focal = await Focal.create(conversation_settings(), migrate=True)
    try:
        _prepare(focal, out)
        resolutions = {t: {r.step.value: r for r in focal.resolver.resolve_all(t, AGENT)} for t in USERS}
        await start_local_model_if_needed(focal, resolutions, out)
        conversation = f"demo-{started:%Y%m%d-%H%M%S}-{uuid.uuid4().hex[:4]}"
        turns: list[dict[str, Any]] = []
        for tenant, user in USERS.items():
            if not as_json:
                console.rule(f"[bold]{tenant}[/] · agent {AGENT} · customer {user}")
            for message in CONVERSATION:
                with out.status(f"{tenant}: running the turn (extraction, rules, tools, reply, enforcement)…"):
                    result = await focal.turn(tenant, AGENT, conversation, message, user_id=user)
                turns.append(turn_object(tenant, AGENT, result, message))
                if not as_json:
                    title = f"{tenant} · turn {result.turn_number}"
                    console.print(turn_panel(title, message, result, resolutions[tenant]))
        await focal.telemetry.flush()
        if as_json:
            print_json(turns)
            return
        await _summary(focal, started, conversation)
    finally:
        await focal.aclose()


def _prepare(focal: Focal, out: Console) -> None:
    """The shipped support agent for both tenants (content-addressed: an unchanged import changes
    nothing), each tenant's demo shop data, and one tenant override to show where models come from."""
    folder = focal.settings.resolved_config_dir / "alignment" / AGENT
    for tenant in USERS:
        focal.alignment.import_folder(folder, tenant, created_by="focal demo")
    seed_demo_data(focal.engine, USERS, reset=True)
    # the provider the other tenant's catalog gives the step (where an earlier run's override cannot bias it)
    plain = next(t for t in USERS if t != OVERRIDE_TENANT)
    premium = f"{focal.resolver.resolve(plain, AGENT, OVERRIDE_STEP).model.provider}:premium"
    focal.overrides.set(OVERRIDE_TENANT, AGENT, OVERRIDE_STEP, premium, fallback_chain=[], changed_by="focal demo")
    out.print(
        f"{OVERRIDE_TENANT} overrides {OVERRIDE_STEP} → {premium} (a tenant override); {plain} keeps its agent catalog",
        markup=False,
    )


async def _summary(focal: Focal, started: dt.datetime, conversation: str) -> None:
    """What the demo's calls cost (by step, by tenant, against premium), the calls skipped steps saved,
    the HTML report and where everything is."""
    analytics = TelemetryAnalytics(focal.engine)
    console.rule("[bold]telemetry[/] (this demo's calls)")
    by_step = analytics.cost_by("step", since=started)
    print_table(
        "cost by step",
        ["step", "calls", "tokens in/out", "cost", "premium cost"],
        [
            (
                r["step"],
                r["calls"],
                f"{r['input_tokens']}/{r['output_tokens']}",
                money(r["cost_usd"]),
                money(r["premium_cost_usd"]),
            )
            for r in by_step
        ],
    )
    by_tenant = analytics.cost_by("tenant", since=started)
    print_table(
        "cost by tenant",
        ["tenant", "calls", "cost"],
        [(r["tenant"], r["calls"], money(r["cost_usd"])) for r in by_tenant],
    )
    saving = analytics.savings_vs_premium(since=started)
    console.print(
        f"{saving['calls']} calls cost {money(saving['cost_usd'])}; on each provider's premium tier they would have "
        f"cost {money(saving['premium_cost_usd'])}: saved {money(saving['savings_usd'])}"
    )
    skipped: Counter[str] = Counter()
    for tenant in USERS:
        for record in await focal.turns.aget(tenant, focal.session_id(tenant, AGENT, conversation)):
            skipped.update(s.step for s in record.skipped_calls)
    turns = len(USERS) * len(CONVERSATION)
    saved = ", ".join(f"{step} {count}" for step, count in skipped.most_common()) or "none"
    console.print(f"calls not made because nothing was left to decide, over {turns} turns: {saved}")
    report = write_report(focal.settings.data_dir / REPORT_FILE, analytics, since=started)
    database = make_url(focal.settings.resolved_database_url).render_as_string(hide_password=True)
    console.print(f"\nHTML telemetry report: {report}\ndatabase: {database}", markup=False)
    session = focal.session_id("acme", AGENT, conversation)
    console.print(
        f"Next: focal chat --tenant acme --agent {AGENT}\n      focal audit show --tenant acme {session}",
        markup=False,
    )


def register(app: typer.Typer) -> None:
    """Add `demo` to the root app."""
    app.command("demo")(demo)
