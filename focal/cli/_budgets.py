"""`focal budgets set|list|remove|reclaim`: tenant spending limits per day / month (UTC)."""

from __future__ import annotations

import asyncio
import getpass

import typer

from focal.cli._common import JSON_OPTION, console, fail, handle_errors, print_json, print_table, settings
from focal.execution import BudgetManager, BudgetPeriod, ConfigurationError, LimitAction, TenantBudgetInfo
from focal.execution.budgets import check_limit_usd
from focal.routing.overrides import check_tenant_id
from focal.storage import make_async_engine, require_schema

app = typer.Typer(help="Tenant budgets: limits per day / month, with spend and reservations.", no_args_is_help=True)


def _row(info: TenantBudgetInfo) -> dict[str, object]:
    return {
        "tenant_id": info.tenant_id,
        "period": info.period.value,
        "limit_usd": info.limit_usd,
        "on_limit": info.on_limit.value,
        "spent_usd": info.spent_usd,
        "reserved_usd": info.reserved_usd,
        "remaining_usd": info.remaining_usd,
    }


async def _with_manager(action):  # type: ignore[no-untyped-def]
    url = settings().resolved_database_url
    require_schema(url)
    engine = make_async_engine(url)
    try:
        return await action(BudgetManager(engine, ttl_seconds=0))
    finally:
        await engine.dispose()


@app.command("set")
@handle_errors
def set_cmd(
    tenant: str = typer.Option(..., "--tenant", "-t"),
    period: BudgetPeriod = typer.Option(..., "--period", "-p"),
    limit: str = typer.Option(..., "--limit", "-l", help="USD, e.g. 25 or 0.50"),
    on_limit: LimitAction = typer.Option(
        LimitAction.DOWNGRADE, "--on-limit", help="abort, downgrade (cheaper tier first), or warn"
    ),
    by: str | None = typer.Option(None, "--by"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Create or change a tenant's limit for a period."""
    check_tenant_id(tenant)
    try:
        amount = check_limit_usd(limit)  # checked before anything is written
    except ConfigurationError as exc:
        raise fail(f"--limit: {exc}") from None

    async def action(manager: BudgetManager) -> list[TenantBudgetInfo]:
        await manager.set_budget(tenant, period, amount, on_limit=on_limit, changed_by=by or getpass.getuser())
        return await manager.status(tenant)

    rows = [_row(i) for i in asyncio.run(_with_manager(action)) if i.period is period]
    if as_json:
        print_json(rows)
    else:
        stored = rows[0]["limit_usd"] if rows else amount  # as stored: whole nano-dollars, plain notation
        console.print(f"tenant {tenant}: {period.value} limit ${stored:f} (on limit: {on_limit.value})", markup=False)


@app.command("list")
@handle_errors
def list_cmd(tenant: str = typer.Option(..., "--tenant", "-t"), as_json: bool = JSON_OPTION) -> None:
    """A tenant's limits with the current period's spend and reservations."""
    check_tenant_id(tenant)
    rows = [_row(i) for i in asyncio.run(_with_manager(lambda m: m.status(tenant)))]
    if as_json:
        print_json(rows)
        return
    print_table(
        f"Budgets of tenant {tenant!r}",
        ["period", "limit", "spent", "reserved", "remaining", "on limit"],
        [
            (r["period"], r["limit_usd"], r["spent_usd"], r["reserved_usd"], r["remaining_usd"], r["on_limit"])
            for r in rows
        ],
    )


@app.command("remove")
@handle_errors
def remove_cmd(
    tenant: str = typer.Option(..., "--tenant", "-t"),
    period: BudgetPeriod = typer.Option(..., "--period", "-p"),
    as_json: bool = JSON_OPTION,
) -> None:
    """Remove a tenant's limit for a period; exit 1 if there was none."""
    check_tenant_id(tenant)
    removed = asyncio.run(_with_manager(lambda m: m.remove_budget(tenant, period)))
    if not removed:
        raise fail(f"tenant {tenant!r} has no {period.value} budget")
    if as_json:
        print_json([{"tenant_id": tenant, "period": period.value, "removed": True}])
    else:
        console.print(f"removed: tenant {tenant} {period.value} budget", markup=False)


@app.command("reclaim")
@handle_errors
def reclaim_cmd(
    tenant: str | None = typer.Option(None, "--tenant", "-t", help="Only this tenant (default: every tenant)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Charge expired reservations as spent (calls that died or failed to settle; a late settle corrects it)."""
    if tenant is not None:
        check_tenant_id(tenant)
    count = asyncio.run(_with_manager(lambda m: m.reclaim_expired(tenant)))
    if as_json:
        print_json([{"tenant_id": tenant, "reclaimed": count}])
    else:
        scope = f"tenant {tenant}" if tenant is not None else "all tenants"
        console.print(f"reclaimed {count} expired reservation(s) ({scope}): their holds are charged", markup=False)
