"""`focal budgets reclaim`: releases the holds of expired reservations; `list` shows what is held."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from typer.testing import CliRunner

from focal.cli import app
from focal.execution import BudgetManager
from focal.storage import make_async_engine, upgrade

runner = CliRunner()


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def as_json(result) -> list[dict]:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def assert_one_line_error(result, fragment: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1
    assert fragment in result.stderr


@pytest.fixture
async def held(database_url: str) -> tuple[str, str]:
    """acme: two expired reservations of $0.25 and a live one of $0.10; globex: an expired $0.50."""
    upgrade(database_url)
    engine = make_async_engine(database_url)
    try:
        dead = BudgetManager(engine, lease_seconds=0.001)  # expired by the time the CLI runs
        live = BudgetManager(engine)
        for tenant in ("acme", "globex"):
            await live.set_budget(tenant, "day", Decimal(1), on_limit="abort")
        await dead.reserve("acme", Decimal("0.25"))
        await dead.reserve("acme", Decimal("0.25"))
        await dead.reserve("globex", Decimal("0.5"))
        await live.reserve("acme", Decimal("0.1"))
    finally:
        await engine.dispose()
    return ("--database-url", database_url)


def test_reclaim_by_tenant_then_all(held: tuple[str, str]) -> None:
    (acme,) = as_json(invoke(*held, "budgets", "list", "-t", "acme", "--json"))
    assert (acme["reserved_usd"], acme["remaining_usd"]) == (0.6, 0.4)

    assert as_json(invoke(*held, "budgets", "reclaim", "--tenant", "acme", "--json")) == [
        {"tenant_id": "acme", "reclaimed": 2}
    ]
    (acme,) = as_json(invoke(*held, "budgets", "list", "-t", "acme", "--json"))
    assert (acme["spent_usd"], acme["reserved_usd"], acme["remaining_usd"]) == (0.5, 0.1, 0.4)  # charged
    (globex,) = as_json(invoke(*held, "budgets", "list", "-t", "globex", "--json"))
    assert globex["reserved_usd"] == 0.5  # another tenant's are left alone

    result = invoke(*held, "budgets", "reclaim")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == "reclaimed 1 expired reservation(s) (all tenants): their holds are charged"
    (globex,) = as_json(invoke(*held, "budgets", "list", "-t", "globex", "--json"))
    assert (globex["spent_usd"], globex["reserved_usd"]) == (0.5, 0.0)
    assert as_json(invoke(*held, "budgets", "reclaim", "--json")) == [{"tenant_id": None, "reclaimed": 0}]
    result = invoke(*held, "budgets", "reclaim", "-t", "acme")
    assert result.stdout.strip() == "reclaimed 0 expired reservation(s) (tenant acme): their holds are charged"
    table = invoke(*held, "budgets", "list", "-t", "acme")
    assert table.exit_code == 0 and "reserved" in table.stdout and "0.1" in table.stdout


def test_reclaim_errors_are_one_line(database_url: str) -> None:
    db = ("--database-url", database_url)
    assert_one_line_error(invoke(*db, "budgets", "reclaim"), "no Focal schema")
    assert_one_line_error(invoke(*db, "budgets", "reclaim", "-t", "bad tenant"), "invalid tenant id 'bad tenant'")
    upgrade(database_url, "0004_call_attempts")
    assert_one_line_error(invoke(*db, "budgets", "reclaim"), "run `focal db upgrade`")
