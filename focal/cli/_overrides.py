"""`focal overrides set|list|remove`: tenant model overrides."""

from __future__ import annotations

import getpass
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import typer

from focal.cli._common import JSON_OPTION, console, fail, handle_errors, print_json, print_table, settings
from focal.routing import TenantOverride
from focal.routing.overrides import check_tenant_id

if TYPE_CHECKING:
    from focal.app import Focal

app = typer.Typer(help="Tenant model overrides (tenant x agent x step, step '*' = all steps).", no_args_is_help=True)


@contextmanager
def _focal() -> Iterator[Focal]:
    from focal.app import Focal

    f = Focal.open(settings(), migrate=False)  # the CLI migrates only in `focal db upgrade` (and `demo`)
    try:
        yield f
    finally:
        f.close()


def _row(o: TenantOverride) -> dict[str, object]:
    return {
        "tenant_id": o.tenant_id,
        "agent_id": o.agent_id,
        "step": o.step,
        "model_ref": o.model_ref,
        "fallback_chain": list(o.fallback_chain) if o.fallback_chain is not None else None,
        "created_at": o.created_at,
        "updated_at": o.updated_at,
        "changed_by": o.changed_by,
    }


def _who() -> str:
    try:
        return getpass.getuser()
    except Exception:
        return "cli"


@app.command("set")
@handle_errors
def set_cmd(
    tenant: str = typer.Option(..., "--tenant", "-t"),
    agent: str = typer.Option(..., "--agent", "-a"),
    step: str = typer.Option(..., "--step", "-s", help="A pipeline step, or '*' for every step."),
    model: str = typer.Option(..., "--model", "-m", help="provider:tier or provider/model-id"),
    fallback: list[str] | None = typer.Option(None, "--fallback", "-f", help="Fallback model, repeatable, in order."),
    no_fallbacks: bool = typer.Option(False, "--no-fallbacks", help="Explicitly no fallbacks for this override."),
    by: str | None = typer.Option(None, "--by", help="Who makes the change (default: the OS user)."),
    replace: bool = typer.Option(True, "--replace/--no-replace", help="Replace an existing override."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create or replace a tenant's model override for an agent step."""
    if no_fallbacks and fallback:
        raise fail("give --fallback or --no-fallbacks, not both")
    chain: list[str] | None = [] if no_fallbacks else (list(fallback) if fallback else None)
    with _focal() as f:
        row = f.overrides.set(
            tenant, agent, step, model, fallback_chain=chain, changed_by=by or _who(), replace=replace
        )
    if as_json:
        print_json([_row(row)])
        return
    chain_text = "catalog chain" if row.fallback_chain is None else (" → ".join(row.fallback_chain) or "none")
    console.print(
        f"set: tenant {row.tenant_id} agent {row.agent_id} step {row.step} → {row.model_ref} (fallbacks: {chain_text})",
        markup=False,
    )


@app.command("list")
@handle_errors
def list_cmd(
    tenant: str | None = typer.Option(None, "--tenant", "-t"),
    agent: str | None = typer.Option(None, "--agent", "-a"),
    as_json: bool = JSON_OPTION,
) -> None:
    """List overrides (all, or one tenant's / one agent's)."""
    if tenant is not None:
        check_tenant_id(tenant)
    with _focal() as f:
        rows = [_row(o) for o in f.overrides.list(tenant, agent)]
    if as_json:
        print_json(rows)
        return
    print_table(
        "Tenant model overrides",
        ["tenant", "agent", "step", "model", "fallbacks", "updated", "by"],
        [
            (
                r["tenant_id"],
                r["agent_id"],
                r["step"],
                r["model_ref"],
                "catalog" if r["fallback_chain"] is None else (", ".join(r["fallback_chain"]) or "none"),  # type: ignore[arg-type]
                r["updated_at"].isoformat(timespec="seconds"),  # type: ignore[attr-defined]
                r["changed_by"],
            )
            for r in rows
        ],
    )


@app.command("remove")
@handle_errors
def remove_cmd(
    tenant: str = typer.Option(..., "--tenant", "-t"),
    agent: str = typer.Option(..., "--agent", "-a"),
    step: str = typer.Option(..., "--step", "-s"),
    by: str | None = typer.Option(None, "--by"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove a tenant override; exit 1 if there was none."""
    check_tenant_id(tenant)
    with _focal() as f:
        removed = f.overrides.remove(tenant, agent, step, changed_by=by or _who())
    if not removed:
        raise fail(f"no override for tenant {tenant!r} agent {agent!r} step {step!r}")
    if as_json:
        print_json([{"tenant_id": tenant, "agent_id": agent, "step": step, "removed": True}])
        return
    console.print(f"removed: tenant {tenant} agent {agent} step {step}", markup=False)
