"""The `focal` CLI through typer's runner: outputs, JSON shapes, and one-line errors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
from typer.testing import CliRunner

from focal.cli import app

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env=env)


def as_json(result) -> list[dict]:  # type: ignore[no-untyped-def]
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert isinstance(data, list)
    assert all(isinstance(row, dict) for row in data)
    return data


def assert_one_line_error(result, *fragments: str) -> None:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("error: ")
    for fragment in fragments:
        assert fragment in result.stderr


@pytest.fixture
def migrated(database_url: str) -> str:
    assert invoke("--database-url", database_url, "db", "upgrade").exit_code == 0
    return database_url


def test_registry_json_lists_every_model_with_prices_and_flags() -> None:
    rows = as_json(invoke("models", "registry", "--json"))
    by_ref = {r["ref"]: r for r in rows}
    haiku = by_ref["anthropic/claude-haiku-4-5"]
    assert haiku["tier"] == "cheap"
    assert haiku["input_cost_per_million"] == 1.0
    assert haiku["output_cost_per_million"] == 5.0
    assert haiku["cached_input_cost_per_million"] == 0.1
    assert haiku["context_window"] == 200000
    assert set(haiku) >= {"id", "provider", "supports_tools", "supports_vision", "supports_structured_output"}
    assert not any(r["provider"] == "hybrid" for r in rows)


def test_registry_for_hybrid_shows_the_real_models_per_tier() -> None:
    rows = as_json(invoke("models", "registry", "--provider", "hybrid", "--json"))
    assert [(r["tier"], r["provider"], r["id"]) for r in rows] == [
        ("cheap", "openai", "gpt-4o-mini"),
        ("capable", "anthropic", "claude-sonnet-5"),
        ("premium", "anthropic", "claude-opus-4-8"),
    ]


def test_registry_unknown_provider_is_one_line_error() -> None:
    assert_one_line_error(invoke("models", "registry", "--provider", "azure"), "unknown provider 'azure'")


def test_tasks_by_tier() -> None:
    rows = as_json(invoke("models", "tasks", "--tier", "premium", "--json"))
    assert {r["task"] for r in rows} == {"coordinate", "architect", "security_audit", "complex_reasoning"}
    assert {r["tier"] for r in rows} == {"premium"}
    table = invoke("models", "tasks")
    assert table.exit_code == 0 and "response_generation" in table.stdout


def test_costs_exact_and_compared_with_premium() -> None:
    rows = as_json(
        invoke(
            "models",
            "costs",
            "--model",
            "anthropic:cheap",
            "--input-tokens",
            "10000",
            "--output-tokens",
            "2000",
            "--cached-input-tokens",
            "5000",
            "--json",
        )
    )
    (row,) = rows
    # 5000 uncached x $1 + 5000 cached x $0.10 + 2000 out x $5, per million
    assert row["cost_usd"] == pytest.approx(0.0155)
    assert row["premium_model"] == "claude-opus-4-8"
    assert row["premium_cost_usd"] == pytest.approx(0.0775)
    assert row["savings_vs_premium_usd"] == pytest.approx(0.062)


def test_costs_bad_reference_and_bad_counts() -> None:
    assert_one_line_error(invoke("models", "costs", "-m", "openai:gold", "-i", "1", "-o", "1"), "tier 'gold'")
    assert_one_line_error(
        invoke("models", "costs", "-m", "openai:cheap", "-i", "1", "-o", "1", "-c", "5"), "cannot exceed"
    )
    assert invoke("models", "costs", "-m", "openai:cheap", "-i", "-3", "-o", "1").exit_code != 0


def test_resolve_before_migration_says_what_to_run() -> None:
    assert_one_line_error(invoke("models", "resolve", "--tenant", "acme", "--agent", "support"), "focal db upgrade")


def test_db_upgrade_is_idempotent(database_url: str) -> None:
    first = as_json(invoke("--database-url", database_url, "db", "upgrade", "--json"))
    second = as_json(invoke("--database-url", database_url, "db", "upgrade", "--json"))
    assert first[0]["before"] is None and first[0]["changed"] is True
    assert second[0]["before"] == second[0]["after"] == first[0]["after"]
    assert second[0]["changed"] is False
    status = as_json(invoke("--database-url", database_url, "db", "status", "--json"))
    assert status[0]["up_to_date"] is True


def test_db_upgrade_unreachable_database() -> None:
    result = invoke("--database-url", "postgresql+psycopg://postgres@127.0.0.1:1/nowhere", "db", "upgrade")
    assert_one_line_error(result, "cannot reach the database")


def test_resolve_all_steps_with_sources(migrated: str) -> None:
    rows = as_json(invoke("--database-url", migrated, "models", "resolve", "-t", "acme", "-a", "support", "--json"))
    by_step = {r["step"]: r for r in rows}
    assert list(by_step) == ["context_extraction", "rule_filtering", "scenario_filtering", "generation", "enforcement"]
    assert by_step["scenario_filtering"]["source"] == "task_default"
    assert by_step["generation"]["source"] == "agent_catalog"
    assert by_step["generation"]["model"] == "claude-sonnet-5"
    assert by_step["generation"]["fallback_chain"] == ["openai/gpt-4o", "anthropic/claude-haiku-4-5"]
    assert "support.yaml" in by_step["generation"]["reason"]
    assert set(by_step["generation"]) >= {"step", "model", "provider", "tier", "source", "reason", "fallback_chain"}


def test_resolve_shows_the_embedded_default_when_no_key_is_set(migrated: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOCAL_EMBEDDED_DEFAULT", "true")  # (the suite turns it off; no key is set)
    rows = as_json(invoke("--database-url", migrated, "models", "resolve", "-t", "acme", "-a", "support", "--json"))
    assert {(r["provider"], r["model"], r["source"]) for r in rows} == {
        ("local", "smollm2-135m-instruct", "embedded_default")
    }
    generation = next(r for r in rows if r["step"] == "generation")
    assert generation["tier"] == "capable"
    assert generation["reason"].startswith(
        "no ANTHROPIC_API_KEY in the environment: anthropic:capable -> local:capable"
    )
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-ant-test")
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    rows = as_json(invoke("--database-url", migrated, "models", "resolve", "-t", "acme", "-a", "support", "--json"))
    assert {r["provider"] for r in rows} == {"anthropic", "openai"}


def test_override_lifecycle_changes_resolution(migrated: str) -> None:
    db = ("--database-url", migrated)
    set_rows = as_json(
        invoke(
            *db,
            "overrides",
            "set",
            "-t",
            "globex",
            "-a",
            "support",
            "-s",
            "generation",
            "-m",
            "openai:capable",
            "-f",
            "anthropic:capable",
            "--by",
            "alice",
            "--json",
        )
    )
    assert set_rows[0]["model_ref"] == "openai:capable"
    assert set_rows[0]["fallback_chain"] == ["anthropic:capable"]
    assert set_rows[0]["changed_by"] == "alice"

    (row,) = as_json(invoke(*db, "models", "resolve", "-t", "globex", "-a", "support", "-s", "generation", "--json"))
    assert (row["provider"], row["model"], row["source"]) == ("openai", "gpt-4o", "tenant_override")
    assert "globex" in row["reason"] and "alice" in row["reason"]
    assert row["fallback_chain"] == ["anthropic/claude-sonnet-5"]

    # the other tenant is untouched
    (other,) = as_json(invoke(*db, "models", "resolve", "-t", "acme", "-a", "support", "-s", "generation", "--json"))
    assert other["source"] == "agent_catalog"

    listed = as_json(invoke(*db, "overrides", "list", "--tenant", "globex", "--json"))
    assert [(r["agent_id"], r["step"]) for r in listed] == [("support", "generation")]
    assert as_json(invoke(*db, "overrides", "list", "--tenant", "acme", "--json")) == []

    removed = as_json(invoke(*db, "overrides", "remove", "-t", "globex", "-a", "support", "-s", "generation", "--json"))
    assert removed[0]["removed"] is True
    assert_one_line_error(
        invoke(*db, "overrides", "remove", "-t", "globex", "-a", "support", "-s", "generation"), "no override"
    )


def test_override_bad_input_writes_nothing(migrated: str) -> None:
    db = ("--database-url", migrated)
    cases = [
        (("-t", "t1", "-a", "support", "-s", "generation", "-m", "openai:gold"), "tier 'gold'"),
        (("-t", "t1", "-a", "nobody", "-s", "generation", "-m", "openai:cheap"), "unknown agent 'nobody'"),
        (("-t", "t1", "-a", "support", "-s", "greeting", "-m", "openai:cheap"), "unknown step 'greeting'"),
        (
            ("-t", "t1", "-a", "support", "-s", "generation", "-m", "openai:cheap", "-f", "openai/gpt-4o-mini"),
            "fallback cycle",
        ),
        (("-t", "bad tenant", "-a", "support", "-s", "generation", "-m", "openai:cheap"), "invalid tenant id"),
        (
            ("-t", "t1", "-a", "support", "-s", "generation", "-m", "openai:cheap", "-f", "x:cheap", "--no-fallbacks"),
            "not both",
        ),
    ]
    for args, fragment in cases:
        assert_one_line_error(invoke(*db, "overrides", "set", *args), fragment)
    assert as_json(invoke(*db, "overrides", "list", "--json")) == []


def test_override_no_replace_refuses_duplicate(migrated: str) -> None:
    db = ("--database-url", migrated)
    base = ("overrides", "set", "-t", "t1", "-a", "support", "-s", "*", "-m", "openai:cheap")
    assert invoke(*db, *base).exit_code == 0
    assert_one_line_error(invoke(*db, *base[:-1], "anthropic:cheap", "--no-replace"), "already overrides")
    (row,) = as_json(invoke(*db, "overrides", "list", "--json"))
    assert row["model_ref"] == "openai:cheap"


def test_validate_default_config_dir_ok() -> None:
    result = invoke("models", "validate")
    assert result.exit_code == 0, result.stdout
    assert "ok: 3 file(s) valid" in result.stdout
    assert as_json(invoke("models", "validate", "--json")) == []


def test_validate_lists_every_problem_and_honours_config_dir(tmp_path: Path, config_dir: Path) -> None:
    broken = tmp_path / "configs"
    shutil.copytree(config_dir, broken)
    support = broken / "agents" / "support.yaml"
    support.write_text(support.read_text().replace("model: openai:cheap", "model: openai:platinum"))
    research = broken / "agents" / "research.yaml"
    research.write_text(
        research.read_text().replace("  rule_filtering:", "  greeting:\n    tier: cheap\n  rule_filtering:")
    )
    env = {"FOCAL_CONFIG_DIR": str(broken)}
    result = invoke("models", "validate", env=env)
    assert result.exit_code == 1
    assert "support.yaml: steps.rule_filtering.model" in result.stdout
    assert "research.yaml: steps.greeting" in result.stdout
    problems = json.loads(invoke("models", "validate", "--json", env=env).stdout)
    assert {(Path(p["path"]).name, p["key"]) for p in problems} == {
        ("support.yaml", "steps.rule_filtering.model"),
        ("research.yaml", "steps.greeting"),
    }
    # explicit paths: one good file passes, a missing file is reported
    assert invoke("models", "validate", str(config_dir / "agents" / "support.yaml")).exit_code == 0
    missing = invoke("models", "validate", str(tmp_path / "nope.yaml"))
    assert missing.exit_code == 1 and "file not found" in missing.stdout


def test_malformed_models_yaml_is_reported_with_file_and_line(tmp_path: Path, config_dir: Path) -> None:
    broken = tmp_path / "configs"
    shutil.copytree(config_dir, broken)
    (broken / "models.yaml").write_text("providers:\n  openai: [unclosed\n")
    result = invoke("--config-dir", str(broken), "models", "registry")
    assert_one_line_error(result, "models.yaml", "invalid YAML", "line")


def test_bad_setting_is_one_line() -> None:
    assert_one_line_error(invoke("models", "tasks", env={"FOCAL_LOG_FORMAT": "xml"}), "FOCAL_LOG_FORMAT")


def test_budgets_set_list_remove(migrated: str) -> None:
    db = ("--database-url", migrated)
    rows = as_json(
        invoke(*db, "budgets", "set", "-t", "acme", "-p", "day", "-l", "2.50", "--on-limit", "abort", "--json")
    )
    assert rows == [
        {
            "tenant_id": "acme",
            "period": "day",
            "limit_usd": 2.5,
            "on_limit": "abort",
            "spent_usd": 0.0,
            "reserved_usd": 0.0,
            "remaining_usd": 2.5,
        }
    ]
    assert [r["period"] for r in as_json(invoke(*db, "budgets", "list", "-t", "acme", "--json"))] == ["day"]
    assert as_json(invoke(*db, "budgets", "list", "-t", "globex", "--json")) == []
    assert_one_line_error(invoke(*db, "budgets", "set", "-t", "acme", "-p", "day", "-l", "lots"), "not a number")
    assert_one_line_error(invoke(*db, "budgets", "set", "-t", "acme", "-p", "day", "-l", "-1"), "negative")
    assert as_json(invoke(*db, "budgets", "remove", "-t", "acme", "-p", "day", "--json"))[0]["removed"] is True
    assert_one_line_error(invoke(*db, "budgets", "remove", "-t", "acme", "-p", "day"), "no day budget")
