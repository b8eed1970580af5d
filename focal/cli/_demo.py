"""`focal demo`: the main job that exists so far — routing for two tenants, explained."""

from __future__ import annotations

import typer
from sqlalchemy.engine import make_url

from focal.cli._common import JSON_OPTION, console, handle_errors, money, print_json, print_table, settings
from focal.routing import PipelineStep, Resolution, ResolutionSource

# A typical turn's token shape per step (input, output), for the cost column.
_TURN_SHAPE = {
    PipelineStep.CONTEXT_EXTRACTION: (1_200, 250),
    PipelineStep.RULE_FILTERING: (1_800, 120),
    PipelineStep.SCENARIO_FILTERING: (900, 80),
    PipelineStep.GENERATION: (2_500, 350),
    PipelineStep.ENFORCEMENT: (1_400, 60),
}


def _step_cost(registry, r: Resolution):  # type: ignore[no-untyped-def]
    return registry.estimate_cost(r.model, *_TURN_SHAPE[r.step])


def _show(title: str, rows: list[Resolution], registry) -> None:  # type: ignore[no-untyped-def]
    total = sum(_step_cost(registry, r) for r in rows)
    print_table(
        title,
        ["step", "model", "source", "why"],
        [(r.step.value, r.model.ref, r.source.value, r.reason) for r in rows],
    )
    console.print(f"estimated cost of a typical turn: {money(total)}\n")


def _json_rows(scenario: str, tenant: str, agent: str, rows: list[Resolution], registry) -> list[dict[str, object]]:  # type: ignore[no-untyped-def]
    """One flat object per step: what the table shows, plus the chain and the typical turn's cost."""
    total = sum(_step_cost(registry, r) for r in rows)
    return [
        {
            "scenario": scenario,
            "tenant_id": tenant,
            "agent_id": agent,
            "step": r.step.value,
            "model": r.model.ref,
            "tier": r.model.tier.value,
            "source": r.source.value,
            "reason": r.reason,
            "fallback_chain": [m.ref for m in r.fallback_chain],
            "step_cost_usd": _step_cost(registry, r),
            "turn_cost_usd": total,
        }
        for r in rows
    ]


_SCENARIOS = (  # tenant, agent, what the scenario is about (the title adds what the resolutions show)
    ("acme", "support", ""),
    ("globex", "support", ""),
    ("acme", "research", "another agent; "),
)


def _title(tenant: str, agent: str, note: str, rows: list[Resolution]) -> str:
    """The scenario's title, stating the overrides the resolutions actually came from."""
    overridden = [r.step.value for r in rows if r.source is ResolutionSource.TENANT_OVERRIDE]
    if overridden:
        state = f"tenant override{'s' if len(overridden) > 1 else ''} on {', '.join(overridden)}"
    else:
        state = "no tenant overrides: agent catalog and task defaults"
    return f"{tenant} / {agent} ({note}{state})"


@handle_errors
def demo(as_json: bool = JSON_OPTION) -> None:
    """Show which model runs each step for two tenants, then change one tenant's model and show why."""
    from focal.app import Focal

    f = Focal.open(settings(), migrate=True)
    try:
        f.overrides.remove("globex", "support", "generation", changed_by="demo")
        shown: list[tuple[str, str, str, list[Resolution]]] = []
        for tenant, agent, note in _SCENARIOS:
            if tenant == "globex":  # the change the demo shows: globex's generation step on OpenAI
                f.overrides.set(
                    "globex",
                    "support",
                    "generation",
                    "openai:capable",
                    fallback_chain=["anthropic:capable"],
                    changed_by="demo",
                )
            rows = f.resolver.resolve_all(tenant, agent)
            shown.append((tenant, agent, _title(tenant, agent, note, rows), rows))
        if as_json:
            print_json([row for t, a, title, rows in shown for row in _json_rows(title, t, a, rows, f.registry)])
            return
        database = make_url(f.settings.resolved_database_url).render_as_string(hide_password=True)
        console.print(f"database: {database}   configs: {f.settings.resolved_config_dir}\n", markup=False)
        for _, _, title, rows in shown:
            _show(title, rows, f.registry)
        console.print("Try: focal models resolve --tenant globex --agent support --json")
    finally:
        f.close()


def register(app: typer.Typer) -> None:
    """Add `demo` to the root app."""
    app.command("demo")(demo)
