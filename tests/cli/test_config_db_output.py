"""The CLI on broken configs and databases, exact JSON numbers, and the demo when its model is missing."""

from __future__ import annotations

import json
import shutil
import socket
from decimal import Decimal
from pathlib import Path

import pytest
from sqlalchemy import text
from typer.testing import CliRunner

from focal.cli import app
from focal.storage import make_sync_engine

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env=env)


def assert_one_line_error(result, *fragments: str) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 1, result.stdout
    assert "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("error: ") and result.stderr.count("\n") == 1, result.stderr
    for fragment in fragments:
        assert fragment in result.stderr, result.stderr
    return result.stderr


def _configs(tmp_path: Path, config_dir: Path) -> Path:
    target = tmp_path / "configs"
    shutil.copytree(config_dir, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text_ = path.read_text()
    assert old in text_, old
    path.write_text(text_.replace(old, new, 1))


# --- `focal models validate` refuses what loading refuses ---------------------------------------


def test_validate_reports_two_files_for_one_agent(tmp_path: Path, config_dir: Path) -> None:
    configs = _configs(tmp_path, config_dir)
    shutil.copy(configs / "agents" / "support.yaml", configs / "agents" / "support.yml")
    result = invoke("--config-dir", str(configs), "models", "validate")
    assert result.exit_code == 1
    assert f"support.yml: agent 'support' is also defined in {configs / 'agents' / 'support.yaml'}" in result.stdout
    resolve = invoke("--config-dir", str(configs), "models", "resolve", "--tenant", "acme", "--agent", "support")
    assert_one_line_error(resolve, "agent 'support' is also defined in")


def test_validate_reports_a_missing_agents_directory(tmp_path: Path, config_dir: Path) -> None:
    configs = _configs(tmp_path, config_dir)
    shutil.rmtree(configs / "agents")
    result = invoke("--config-dir", str(configs), "models", "validate", "--json")
    assert result.exit_code == 1
    assert json.loads(result.stdout) == [
        {"path": str(configs / "agents"), "key": None, "message": "agent catalog directory not found"}
    ]


def test_deeply_nested_yaml_is_one_problem_naming_the_file(tmp_path: Path, config_dir: Path) -> None:
    configs = _configs(tmp_path, config_dir)
    support = configs / "agents" / "support.yaml"
    support.write_text(support.read_text() + "x: " + "[" * 800 + "]" * 800 + "\n")
    result = invoke("--config-dir", str(configs), "models", "validate")
    assert result.exit_code == 1 and "Traceback" not in result.stdout + result.stderr
    assert f"{support}: invalid YAML: nested too deeply" in result.stdout


# --- prices: bounded at load, exact in JSON ------------------------------------------------------


@pytest.mark.parametrize("price", ["1e400", "100000.01"])
def test_an_absurd_price_is_refused_at_load_with_file_and_key(tmp_path: Path, config_dir: Path, price: str) -> None:
    configs = _configs(tmp_path, config_dir)
    _edit(configs / "models.yaml", "input_cost_per_million: 1.00", f"input_cost_per_million: {price}")
    result = invoke("--config-dir", str(configs), "models", "registry", "--json")
    assert_one_line_error(
        result, f"{configs / 'models.yaml'}: providers.anthropic.models[0].input_cost_per_million", "100000"
    )
    assert "Infinity" not in result.stdout


def test_json_numbers_keep_every_decimal_digit() -> None:
    # 987654321987654321 x $1.00 + 12345 x $5.00 per million: 18 significant digits, more than a float holds
    costs = invoke("models", "costs", "-m", "anthropic:cheap", "-i", "987654321987654321", "-o", "12345", "--json")
    assert costs.exit_code == 0, costs.stderr
    assert '"cost_usd": 987654321987.716046,' in costs.stdout  # a number, not a string, not a rounded float
    (row,) = json.loads(costs.stdout, parse_float=Decimal)
    assert row["cost_usd"] == Decimal("987654321987.716046")
    assert row["savings_vs_premium_usd"] == row["premium_cost_usd"] - row["cost_usd"]
    (plain,) = json.loads(costs.stdout)  # plain JSON readers still get numbers
    assert plain["cost_usd"] == pytest.approx(987654321987.716)


def test_dumps_matches_json_dumps_and_refuses_what_json_cannot_hold() -> None:
    from focal.cli._common import dumps

    rows = [{"a": 1, "b": 0.6, "c": None, "d": ["x"], "e": [], "f": {}, "g": "é", "h": True}, {}]
    assert dumps(rows) == json.dumps(rows, indent=2)
    assert json.loads(dumps([{"v": Decimal("0.60"), "w": Decimal("-1E-9")}])) == [{"v": 0.6, "w": -1e-9}]
    for bad in (float("inf"), Decimal("NaN"), Decimal("-Infinity")):
        with pytest.raises(ValueError):
            dumps([{"v": bad}])


# --- the database ---------------------------------------------------------------------------------


def test_a_database_from_a_newer_focal_is_named_and_never_sent_to_db_upgrade(database_url: str) -> None:
    db = ("--database-url", database_url)
    assert invoke(*db, "db", "upgrade").exit_code == 0
    engine = make_sync_engine(database_url)
    with engine.begin() as conn:
        conn.execute(text("update alembic_version set version_num = '0099_from_the_future'"))
    engine.dispose()
    messages = {
        assert_one_line_error(invoke(*db, *command), "'0099_from_the_future'", "migrated by a newer Focal")
        for command in (
            ("db", "upgrade"),
            ("db", "status"),
            ("db", "status", "--json"),
            ("models", "resolve", "--tenant", "acme", "--agent", "support"),
            ("overrides", "list"),
        )
    }
    assert len(messages) == 1 and "focal db upgrade" not in messages.pop()  # one message, everywhere


@pytest.mark.parametrize("url", ["sqlite://", "sqlite:///:memory:"])
def test_an_in_memory_database_is_refused_naming_database_url(url: str) -> None:
    assert_one_line_error(invoke("--database-url", url, "db", "upgrade"), "FOCAL_DATABASE_URL", "in-memory SQLite")


def test_an_unparseable_database_url_hides_its_password() -> None:
    error = assert_one_line_error(invoke("--database-url", "postgresql://focal:s3cret@db:port/x", "db", "status"))
    assert "s3cret" not in error and "postgresql://focal:***@db:port/x" in error


# --- overrides: who and for whom ------------------------------------------------------------------


@pytest.fixture
def migrated(database_url: str) -> tuple[str, str]:
    assert invoke("--database-url", database_url, "db", "upgrade").exit_code == 0
    return ("--database-url", database_url)


def test_a_too_long_by_is_one_line_and_writes_nothing(migrated: tuple[str, str]) -> None:
    set_ = ("overrides", "set", "--tenant", "acme", "--agent", "support", "--step", "generation")
    assert_one_line_error(invoke(*migrated, *set_, "--model", "openai:cheap", "--by", "x" * 200), "--by", "at most 128")
    listed = invoke(*migrated, "overrides", "list", "--json")
    assert listed.exit_code == 0 and json.loads(listed.stdout) == []


def test_a_tenant_id_with_a_trailing_newline_is_refused(migrated: tuple[str, str]) -> None:
    args = ("--tenant", "acme\n", "--agent", "support", "--step", "generation")
    assert_one_line_error(invoke(*migrated, "overrides", "set", *args, "--model", "openai:cheap"), "invalid tenant id")
    assert_one_line_error(invoke(*migrated, "overrides", "remove", *args), "invalid tenant id")
    assert_one_line_error(invoke(*migrated, "overrides", "list", "--tenant", "acme\n"), "invalid tenant id")


# --- the demo when its model is missing: one clear line, exit 1 ----------------------------------------


def test_the_demo_names_the_provider_it_cannot_reach(tmp_path: Path) -> None:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]  # closed once the block ends: nothing listens there
    env = {
        "FOCAL_EMBEDDED_DEFAULT": "true",
        "FOCAL_LOCAL_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "FOCAL_RETRY_MAX_ATTEMPTS": "1",
    }
    result = invoke("--database-url", f"sqlite:///{tmp_path / 'focal.db'}", "demo", env=env)
    assert_one_line_error(result, "local")


def test_the_demo_names_a_missing_model_file(tmp_path: Path) -> None:
    missing = tmp_path / "my-model.gguf"
    env = {"FOCAL_EMBEDDED_DEFAULT": "true", "FOCAL_LOCAL_MODEL_PATH": str(missing)}
    result = invoke("--database-url", f"sqlite:///{tmp_path / 'focal.db'}", "demo", env=env)
    assert_one_line_error(result, "my-model.gguf")
