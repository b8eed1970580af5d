"""`focal telemetry ...` through typer's runner."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from focal.cli import app
from focal.cli._telemetry import parse_since
from focal.storage import make_async_engine, upgrade
from focal.telemetry import LLMCallRecord, TelemetryStore, WorkflowRunRecord

runner = CliRunner()


@pytest.fixture
async def seeded(database_url: str, tmp_path: Path) -> str:
    upgrade(database_url)
    engine = make_async_engine(database_url)
    store = TelemetryStore(engine, spill_dir=tmp_path)
    for i, (tenant, provider, hop) in enumerate(
        [("acme", "anthropic", 0), ("acme", "openai", 1), ("globex", "openai", 0)]
    ):
        store.record_call(
            LLMCallRecord(
                tenant_id=tenant,
                agent_id="support",
                step_name="generation",
                task_type="response_generation",
                provider=provider,
                tier="capable",
                model_id=f"m{i}",
                input_tokens=100,
                output_tokens=10,
                cost_usd=Decimal("0.001") * (i + 1),
                premium_cost_usd=Decimal("0.01"),
                latency_ms=10.0 * (i + 1),
                fallback_hop=hop,
                fallback_cause="ProviderUnavailable" if hop else None,
            )
        )
    store.record_run(
        WorkflowRunRecord(
            tenant_id="acme",
            agent_id="support",
            workflow_name="alignment",
            status="completed",
            cost_usd=Decimal("0.003"),
        )
    )
    await store.aclose()
    await engine.dispose()
    return database_url


def run(*args: str) -> list[dict]:
    result = runner.invoke(app, list(args))
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, list) and all(isinstance(r, dict) for r in data)
    return data


def test_calls_runs_costs_providers_fallbacks_savings(seeded: str) -> None:
    db = ("--database-url", seeded, "telemetry")
    calls = run(*db, "calls", "--json")
    assert len(calls) == 3 and {c["tenant_id"] for c in calls} == {"acme", "globex"}
    assert run(*db, "calls", "--tenant", "globex", "--json")[0]["cost_usd"] == 0.003
    assert run(*db, "runs", "--json")[0]["workflow_name"] == "alignment"
    costs = run(*db, "costs", "--by", "provider", "--json")
    assert [(r["provider"], r["calls"]) for r in costs] == [("openai", 2), ("anthropic", 1)]
    assert costs[0]["cost_usd"] == pytest.approx(0.005)
    providers = run(*db, "providers", "--json")
    assert {p["provider"]: p["error_rate"] for p in providers} == {"anthropic": 0.0, "openai": 0.0}
    fallbacks = run(*db, "fallbacks", "--json")
    assert fallbacks[0]["by_fallback"] == 1 and "ProviderUnavailable" in fallbacks[0]["causes"]
    (savings,) = run(*db, "savings", "--tenant", "acme", "--json")
    assert savings["cost_usd"] == pytest.approx(0.003) and savings["premium_cost_usd"] == pytest.approx(0.02)
    assert run(*db, "costs", "--by", "tenant", "--since", "1d", "--json")[0]["tenant"] in ("acme", "globex")


def test_retention_export_report(seeded: str, tmp_path: Path) -> None:
    db = ("--database-url", seeded, "telemetry")
    dry = run(*db, "retention", "--days", "30", "--json")
    assert [r["purged"] for r in dry] == [False, False]
    out = tmp_path / "x.jsonl"
    (exported,) = run(*db, "export", str(out), "--json")
    assert exported["calls"] == 3 and len(out.read_text().splitlines()) == 4
    report = tmp_path / "r.html"
    run(*db, "report", str(report), "--json")
    assert "<svg" in report.read_text()


def test_bad_input_is_one_line(seeded: str) -> None:
    db = ("--database-url", seeded, "telemetry")
    for args, fragment in (
        (("costs", "--by", "colour"), "--by 'colour'"),
        (("calls", "--since", "yesterday"), "--since"),
    ):
        result = runner.invoke(app, [*db, *args])
        assert result.exit_code == 1 and result.stderr.startswith("error: ") and fragment in result.stderr
        assert "Traceback" not in result.stderr


def test_parse_since() -> None:
    now = dt.datetime(2026, 11, 22, 12, tzinfo=dt.UTC)
    assert parse_since("7d", now) == now - dt.timedelta(days=7)
    assert parse_since("90m", now) == now - dt.timedelta(minutes=90)
    assert parse_since("2026-11-01") == dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    assert parse_since(None) is None


def test_every_json_row_is_flat(seeded: str, tmp_path: Path) -> None:
    db = ("--database-url", seeded, "telemetry")
    commands = [
        ("calls",),
        ("runs",),
        *(("costs", "--by", by) for by in ("task", "tenant", "agent", "step", "provider", "model", "tier")),
        ("providers",),
        ("fallbacks",),
        ("savings",),
        ("retention",),
        ("export", str(tmp_path / "e.jsonl")),
        ("report", str(tmp_path / "r.html")),
    ]
    for command in commands:
        rows = run(*db, *command, "--json")
        assert rows, command
        for row in rows:
            nested = {k: v for k, v in row.items() if isinstance(v, dict) or (isinstance(v, list) and k != "steps")}
            assert nested == {}, (command, nested)


def test_calls_metadata_is_a_json_string(database_url: str, tmp_path: Path) -> None:
    upgrade(database_url)

    async def seed() -> None:
        engine = make_async_engine(database_url)
        store = TelemetryStore(engine, spill_dir=tmp_path)
        store.record_call(
            LLMCallRecord(
                tenant_id="acme", agent_id="a", step_name="s", provider="p", tier="cheap", model_id="m",
                metadata={"b": 1, "a": "x"},
            )
        )  # fmt: skip
        await store.aclose()
        await engine.dispose()

    asyncio.run(seed())
    (row,) = run("--database-url", database_url, "telemetry", "calls", "--json")
    assert row["metadata"] == '{"a": "x", "b": 1}' and row["savings_usd"] == 0.0


def test_retention_apply_purges(seeded: str) -> None:
    db = ("--database-url", seeded, "telemetry")
    tomorrow = (dt.datetime.now(dt.UTC) + dt.timedelta(days=2)).isoformat()
    assert len(run(*db, "calls", "--json")) == 3
    rows = run(*db, "retention", "--days", "1", "--apply", "--json")
    assert [(r["table"], r["rows"], r["purged"]) for r in rows] == [("llm_calls", 0, True), ("workflow_runs", 0, True)]
    assert run(*db, "calls", "--since", tomorrow, "--json") == []
    assert len(run(*db, "costs", "--by", "tenant", "--json")) == 2
    rows = run(*db, "retention", "--days", "30", "--runs-days", "7", "--json")  # one retention per table
    cutoffs = {r["table"]: dt.datetime.fromisoformat(r["cutoff"]) for r in rows}
    assert round((cutoffs["llm_calls"] - cutoffs["workflow_runs"]).total_seconds()) == -23 * 86400


def test_file_and_schema_errors_are_one_line(seeded: str, tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    for command in (("export", str(blocker / "x.jsonl")), ("report", str(blocker / "r.html"))):
        result = runner.invoke(app, ["--database-url", seeded, "telemetry", *command])
        assert result.exit_code == 1 and "Traceback" not in result.stderr
        assert result.stderr.startswith("error: cannot write ") and len(result.stderr.strip().splitlines()) == 1
    empty = f"sqlite:///{tmp_path / 'empty.db'}"
    result = runner.invoke(app, ["--database-url", empty, "telemetry", "calls", "--json"])
    assert result.exit_code == 1 and "focal db upgrade" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_ids_that_look_like_markup_are_shown_as_they_are(capsys: pytest.CaptureFixture[str]) -> None:
    from focal.cli._common import print_table

    print_table("calls", ["tenant", "agent"], [["[red]acme", "oops[/x]"], ["acme", None]])
    out = capsys.readouterr().out
    assert "[red]acme" in out and "oops[/x]" in out  # two tenants never look like one; no MarkupError
