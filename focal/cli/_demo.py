"""`focal demo`: the main job that exists so far — routing for two tenants, explained."""

from __future__ import annotations

import typer

from focal.cli._common import console, handle_errors, money, print_table, settings
from focal.routing import PipelineStep, Resolution

# A typical turn's token shape per step (input, output), for the cost column.
_TURN_SHAPE = {
    PipelineStep.CONTEXT_EXTRACTION: (1_200, 250),
    PipelineStep.RULE_FILTERING: (1_800, 120),
    PipelineStep.SCENARIO_FILTERING: (900, 80),
    PipelineStep.GENERATION: (2_500, 350),
    PipelineStep.ENFORCEMENT: (1_400, 60),
}


def _show(title: str, rows: list[Resolution], registry) -> None:  # type: ignore[no-untyped-def]
    total = sum(registry.estimate_cost(r.model, *_TURN_SHAPE[r.step]) for r in rows)
    print_table(
        title,
        ["step", "model", "source", "why"],
        [(r.step.value, r.model.ref, r.source.value, r.reason) for r in rows],
    )
    console.print(f"estimated cost of a typical turn: {money(total)}\n")


@handle_errors
def demo() -> None:
    """Show which model runs each step for two tenants, then change one tenant's model and show why."""
    from focal.app import Focal

    f = Focal.open(settings(), migrate=True)
    try:
        console.print(f"database: {f.settings.resolved_database_url}   configs: {f.settings.resolved_config_dir}\n")
        f.overrides.remove("globex", "support", "generation", changed_by="demo")
        _show(
            "acme / support (no overrides: catalog and task defaults)",
            f.resolver.resolve_all("acme", "support"),
            f.registry,
        )
        f.overrides.set(
            "globex", "support", "generation", "openai:capable", fallback_chain=["anthropic:capable"], changed_by="demo"
        )
        _show(
            "globex / support (tenant override on generation)", f.resolver.resolve_all("globex", "support"), f.registry
        )
        _show("acme / research (another agent, other choices)", f.resolver.resolve_all("acme", "research"), f.registry)
        console.print("Try: focal models resolve --tenant globex --agent support --json")
    finally:
        f.close()


def register(app: typer.Typer) -> None:
    """Add `demo` to the root app."""
    app.command("demo")(demo)
