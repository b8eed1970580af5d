"""`focal models ...`: registry, tasks, costs, resolve, validate."""

from __future__ import annotations

from pathlib import Path

import typer

from focal.cli._common import (
    JSON_OPTION,
    console,
    fail,
    handle_errors,
    money,
    print_json,
    print_table,
    settings,
)
from focal.routing import (
    TASK_TIER_MAP,
    ModelInfo,
    ModelRegistry,
    Tier,
    get_tasks_for_tier,
    validate_paths,
)

app = typer.Typer(help="Models: registry, task tiers, costs, resolution and config validation.", no_args_is_help=True)


def _registry() -> ModelRegistry:
    s = settings()
    return ModelRegistry.load(s.resolved_config_dir / "models.yaml")


def _model_row(m: ModelInfo) -> dict[str, object]:
    return {
        "id": m.id,
        "provider": m.provider,
        "tier": m.tier,
        "ref": m.ref,
        "input_cost_per_million": m.input_cost_per_million,
        "output_cost_per_million": m.output_cost_per_million,
        "cached_input_cost_per_million": m.cached_input_cost_per_million,
        "context_window": m.context_window,
        "max_output_tokens": m.max_output_tokens,
        "supports_tools": m.supports_tools,
        "supports_vision": m.supports_vision,
        "supports_structured_output": m.supports_structured_output,
    }


@app.command("registry")
@handle_errors
def registry_cmd(
    provider: str | None = typer.Option(None, "--provider", "-p", help="Only this provider's models."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List the models of the registry with their prices and capabilities."""
    registry = _registry()
    models = registry.models(provider)
    rows = [_model_row(m) for m in models]
    if as_json:
        print_json(rows)
        return
    title = f"Models (prices USD per 1M tokens, as of {registry.prices_as_of.isoformat()})"
    print_table(
        title,
        ["provider", "tier", "model", "input", "output", "cached in", "context", "max out", "tools", "vision", "json"],
        [
            (
                m.provider,
                m.tier.value,
                m.id,
                m.input_cost_per_million,
                m.output_cost_per_million,
                m.cached_input_cost_per_million if m.cached_input_cost_per_million is not None else "-",
                f"{m.context_window:,}",
                f"{m.max_output_tokens:,}",
                _yn(m.supports_tools),
                _yn(m.supports_vision),
                _yn(m.supports_structured_output),
            )
            for m in models
        ],
    )


def _yn(flag: bool) -> str:
    return "yes" if flag else "no"


@app.command("tasks")
@handle_errors
def tasks_cmd(
    tier: Tier | None = typer.Option(None, "--tier", "-t", help="Only tasks of this tier."),
    as_json: bool = JSON_OPTION,
) -> None:
    """List task types and the tier each runs on."""
    tasks = get_tasks_for_tier(tier) if tier else list(TASK_TIER_MAP)
    rows = [{"task": t.value, "tier": TASK_TIER_MAP[t].value} for t in tasks]
    if as_json:
        print_json(rows)
        return
    print_table("Task types", ["task", "tier"], [(r["task"], r["tier"]) for r in rows])


@app.command("costs")
@handle_errors
def costs_cmd(
    model: str = typer.Option(..., "--model", "-m", help="provider:tier or provider/model-id"),
    input_tokens: int = typer.Option(..., "--input-tokens", "-i", min=0),
    output_tokens: int = typer.Option(..., "--output-tokens", "-o", min=0),
    cached_input_tokens: int = typer.Option(
        0, "--cached-input-tokens", "-c", min=0, help="How many of the input tokens are cache hits."
    ),
    as_json: bool = JSON_OPTION,
) -> None:
    """Estimate what a call costs on a model, and on its provider's premium tier for comparison."""
    registry = _registry()
    info = registry.parse_ref(model)
    if cached_input_tokens > input_tokens:
        raise fail("--cached-input-tokens cannot exceed --input-tokens")
    cost = registry.estimate_cost(info, input_tokens, output_tokens, cached_input_tokens)
    premium = registry.get(info.provider, Tier.PREMIUM) if registry.has(info.provider, Tier.PREMIUM) else None
    premium_cost = (
        registry.estimate_cost(premium, input_tokens, output_tokens, cached_input_tokens) if premium else None
    )
    row = {
        "model": info.id,
        "provider": info.provider,
        "tier": info.tier,
        "input_tokens": input_tokens,
        "output_tokens": output_tokens,
        "cached_input_tokens": cached_input_tokens,
        "cost_usd": cost,
        "premium_model": premium.id if premium else None,
        "premium_cost_usd": premium_cost,
        "savings_vs_premium_usd": (premium_cost - cost) if premium_cost is not None else None,
    }
    if as_json:
        print_json([row])
        return
    console.print(
        f"{info.ref} ({info.tier.value}): {money(cost)} for {input_tokens:,} in "
        f"({cached_input_tokens:,} cached) + {output_tokens:,} out"
    )
    if premium is not None and premium_cost is not None:
        console.print(
            f"same tokens on {premium.ref} (premium): {money(premium_cost)}; saves {money(premium_cost - cost)}"
        )


@app.command("resolve")
@handle_errors
def resolve_cmd(
    tenant: str = typer.Option(..., "--tenant", "-t"),
    agent: str = typer.Option(..., "--agent", "-a"),
    step: str | None = typer.Option(None, "--step", "-s", help="One step; all steps when omitted."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Which model each step runs on for a tenant and agent, and why."""
    from focal.app import Focal

    app_ = Focal.open(settings(), migrate=False)  # the CLI migrates only in `focal db upgrade` (and `demo`)
    try:
        resolutions = [app_.resolver.resolve(tenant, agent, step)] if step else app_.resolver.resolve_all(tenant, agent)
    finally:
        app_.close()
    rows = [
        {
            "step": r.step.value,
            "model": r.model.id,
            "provider": r.model.provider,
            "tier": r.model.tier.value,
            "source": r.source.value,
            "reason": r.reason,
            "fallback_chain": [m.ref for m in r.fallback_chain],
            "fallback_source": r.fallback_source,
            "task_type": r.task_type.value,
        }
        for r in resolutions
    ]
    if as_json:
        print_json(rows)
        return
    print_table(
        f"Models for tenant {tenant!r}, agent {agent!r}",
        ["step", "model", "tier", "source", "fallbacks", "why"],
        [
            (
                r["step"],
                f"{r['provider']}/{r['model']}",
                r["tier"],
                r["source"],
                " → ".join(r["fallback_chain"]) + f" ({r['fallback_source']})"
                if r["fallback_chain"]
                else f"none ({r['fallback_source']})",
                r["reason"],
            )
            for r in rows
        ],
    )


@app.command("validate")
@handle_errors
def validate_cmd(
    paths: list[Path] | None = typer.Argument(None, help="Files or directories; default: the config directory."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Validate models.yaml and agent catalogs; exit 1 listing every problem."""
    s = settings()
    config_dir = s.resolved_config_dir
    checked, problems = validate_paths(
        paths or [config_dir], config_dir=config_dir, default_task_tier=s.default_task_tier
    )
    if as_json:
        print_json([{"path": p.path, "key": p.key, "message": p.detail} for p in problems])
    elif problems:
        for problem in problems:
            console.print(f"{problem}", markup=False)
        console.print(f"{len(problems)} problem(s) in {len(checked)} file(s)")
    else:
        console.print(f"ok: {len(checked)} file(s) valid", markup=False)
    if problems:
        raise typer.Exit(1)
