"""`focal config validate|import|export|versions|show` through typer's runner, on SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.cli.test_cli import as_json, invoke

SUPPORT = Path(__file__).resolve().parents[2] / "configs" / "alignment" / "support"


@pytest.fixture
def db(database_url: str) -> tuple[str, str]:
    assert invoke("--database-url", database_url, "db", "upgrade").exit_code == 0
    return ("--database-url", database_url)


def test_validate_a_good_folder_needs_no_database() -> None:
    (row,) = as_json(invoke("config", "validate", str(SUPPORT), "--json"))
    assert row["agent_id"] == "support" and row["valid"] and row["version"].startswith("v-")


def test_validate_lists_every_problem_with_file_and_line(tmp_path: Path) -> None:
    folder = Path(shutil.copytree(SUPPORT, tmp_path / "s"))
    rules = folder / "rules.yaml"
    rules.write_text(rules.read_text().replace("priority: 10", "prority: 10"))
    lines = [i for i, line in enumerate(rules.read_text().splitlines(), 1) if "prority" in line]
    result = invoke("config", "validate", str(folder))
    assert result.exit_code == 1 and "Traceback" not in result.stderr + result.stdout
    assert result.stderr.startswith("error: 2 problems")
    assert f"{rules}:{lines[0]}: rules[0].prority: unknown key" in result.stderr
    assert f"{rules}:{lines[1]}: rules[6].prority: unknown key" in result.stderr
    rules.write_text(rules.read_text().replace("prority: 10", "priority: 10").replace("[legal_notice]", "[nope]"))
    again = invoke("config", "validate", str(folder))
    assert again.exit_code == 1 and "rules[3].templates[0]: unknown template 'nope'" in again.stderr


def test_import_versions_show_export_round_trip(db: tuple[str, str], tmp_path: Path) -> None:
    (imported,) = as_json(invoke(*db, "config", "import", str(SUPPORT), "-t", "acme", "--by", "ops", "--json"))
    assert imported["created"] and imported["previous_version"] is None
    (other,) = as_json(invoke(*db, "config", "import", str(SUPPORT), "-t", "globex", "-a", "helpdesk", "--json"))
    assert other["agent_id"] == "helpdesk" and other["version"] != imported["version"]  # the agent id is content
    (listed,) = as_json(invoke(*db, "config", "versions", "-t", "acme", "-a", "support", "--json"))
    assert listed["version"] == imported["version"] and listed["current"] and listed["created_by"] == "ops"
    shown = as_json(invoke(*db, "config", "show", "-t", "acme", "-a", "support", "--rules", "--json"))
    assert {r["kind"] for r in shown} == {"rule"} and shown[0]["id"] == "refund_needs_human_above_limit"
    steps = as_json(invoke(*db, "config", "show", "-t", "acme", "-a", "support", "--scenarios", "--json"))
    assert {(s["scenario"], s["step"]) for s in steps} >= {("order_status", "lookup"), ("refund", "decide")}
    out = tmp_path / "out"
    (exported,) = as_json(invoke(*db, "config", "export", str(out), "-t", "acme", "-a", "support", "--json"))
    assert exported["version"] == imported["version"]
    (again,) = as_json(invoke(*db, "config", "import", str(out), "-t", "acme", "--json"))
    assert again["version"] == imported["version"] and not again["created"]
    text = invoke(*db, "config", "show", "-t", "acme", "-a", "support")
    assert text.exit_code == 0 and "Ava from Acme Support" in text.stdout and "order_status" in text.stdout


def test_unknown_tenant_and_failed_import_are_one_line_errors(db: tuple[str, str], tmp_path: Path) -> None:
    missing = invoke(*db, "config", "show", "-t", "nobody", "-a", "support")
    assert missing.exit_code == 1 and missing.stderr.startswith("error: tenant 'nobody' has no configuration")
    folder = Path(shutil.copytree(SUPPORT, tmp_path / "s"))
    (folder / "templates.yaml").write_text((folder / "templates.yaml").read_text().replace("{order_status}", "{x}"))
    failed = invoke(*db, "config", "import", str(folder), "-t", "acme")
    assert failed.exit_code == 1 and "unknown placeholder(s) x" in failed.stderr
    assert invoke(*db, "config", "versions", "-t", "acme", "-a", "support").exit_code == 1  # nothing written
    exists = invoke(*db, "config", "export", str(folder), "-t", "acme", "-a", "support")
    assert exists.exit_code == 1 and "error:" in exists.stderr
