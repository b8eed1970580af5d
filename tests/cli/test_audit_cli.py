"""`focal audit list|show` through typer's runner, on SQLite and PostgreSQL."""

from __future__ import annotations

import pytest

from focal.alignment.audit import TurnStore
from focal.storage import make_sync_engine
from tests.cli.test_cli import as_json, assert_one_line_error, invoke
from tests.integration.alignment.test_audit import SESSION, make_record, make_run


@pytest.fixture
def db(database_url: str) -> tuple[str, str]:
    assert invoke("--database-url", database_url, "db", "upgrade").exit_code == 0
    engine = make_sync_engine(database_url)
    try:
        store = TurnStore(engine)
        first = make_record(1, rejected_values={"customer_tier": "'customer_tier' is not collected from the user"})
        store.save(first, make_run(first))
        store.save(make_record(2, message="And my refund?", reply="Refunds take 5 days.", run_id=None))
        store.save(make_record(1, session_id="acme:sales:c9", agent_id="sales", turn_id="s-1", run_id=None))
        store.save(make_record(1, tenant_id="globex", session_id="globex:support:c1", message="globex only"))
    finally:
        engine.dispose()
    return ("--database-url", database_url)


def _flat(rows: list[dict]) -> bool:
    plain = (str, int, float, bool, type(None))
    return all(
        isinstance(v, plain) or (isinstance(v, list) and all(isinstance(i, str) for i in v))
        for row in rows
        for v in row.values()
    )


def test_list_json_and_table(db: tuple[str, str]) -> None:
    rows = as_json(invoke(*db, "audit", "list", "--tenant", "acme", "--json"))
    assert [(r["session_id"], r["turn_number"]) for r in rows] == [(SESSION, 2), ("acme:sales:c9", 1), (SESSION, 1)]
    assert _flat(rows) and {r["tenant_id"] for r in rows} == {"acme"}
    assert rows[0]["status"] == "regenerated" and rows[0]["cost_usd"] == 0.001234501 and rows[2]["run_id"] == "run-1"
    only = as_json(invoke(*db, "audit", "list", "-t", "acme", "--agent", "sales", "--json"))
    assert [r["agent_id"] for r in only] == ["sales"]
    assert len(as_json(invoke(*db, "audit", "list", "-t", "acme", "-n", "1", "--json"))) == 1
    table = invoke(*db, "audit", "list", "--tenant", "acme")
    assert table.exit_code == 0, table.stderr
    assert "Alignment turns: tenant acme" in table.stdout and "Refunds take 5 days." in table.stdout
    assert "globex" not in table.stdout
    assert as_json(invoke(*db, "audit", "list", "-t", "initech", "--json")) == []


def test_show_explains_each_turn(db: tuple[str, str]) -> None:
    result = invoke(*db, "audit", "show", "--tenant", "acme", SESSION, "--turn", "1")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    for fragment in (
        f"Turn 1 of session {SESSION} (tenant acme, agent support)",
        "turn id turn-1, run run-1, user cust-1, config v-abc123",
        "message: Where is order A-1001? I want a refund.",
        "reply: Order A-1001 has shipped.",
        "value not taken: customer_tier: 'customer_tier' is not collected from the user",
        "kept     greeting           by filter: always applies",
        "dropped  refund_over_limit  by expression: amount 20 <= 50",
        "scenario: start: (no scenario) → order_status/lookup (skipped: ask_order) — order number given",
        "order_lookup: ok, 12 ms (required, bound by step:order_status/lookup)",
        "carrier_eta: error: timeout, 300 ms",
        "attempt 1 (model): refused: It arrives tomorrow, guaranteed.",
        "violates no_promises (by judge): promises a date",
        "attempt 2 (model): passed: Order A-1001 has shipped.",
        "enforcement: regenerated after 2 attempts; violations: no_promises",
        "generation: anthropic/claude-haiku-4-5, 2 attempts, tokens 900/60, $0.001234, 950 ms — tenant override",
        "scenario_filtering: decided deterministically",
        "totals: tokens 1020 in / 90 out, $0.001235, 1234 ms",
    ):
        assert fragment in out, fragment
    assert "Turn 2" not in out
    both = invoke(*db, "audit", "show", "-t", "acme", SESSION)
    assert both.exit_code == 0 and both.stdout.index("Turn 1 ") < both.stdout.index("Turn 2 ")
    assert "And my refund?" in both.stdout


def test_show_json_is_flat_rows_by_kind(db: tuple[str, str]) -> None:
    rows = as_json(invoke(*db, "audit", "show", "--tenant", "acme", SESSION, "--json"))
    assert _flat(rows)
    assert [r["kind"] for r in rows if r["turn_number"] == 1] == [
        "turn",
        "rule",
        "rule",
        "rule",
        "tool",
        "tool",
        "attempt",
        "verdict",
        "attempt",
        "verdict",
        "model",
        "model",
        "skipped_call",
    ]
    turn = rows[0]
    assert turn["scenario_after"] == "order_status" and turn["skipped_steps"] == ["ask_order"]
    assert turn["violations"] == ["no_promises"] and turn["cost_usd"] == 0.001234501
    dropped = next(r for r in rows if r["kind"] == "rule" and not r["kept"])
    assert (dropped["rule_id"], dropped["decided_by"]) == ("refund_over_limit", "expression")
    tool = next(r for r in rows if r["kind"] == "tool")
    assert tool["arguments"] == '{"order_number": "A-1001"}'
    verdict = next(r for r in rows if r["kind"] == "verdict")
    assert (verdict["attempt"], verdict["complies"], verdict["by"]) == (1, False, "judge")
    assert {r["turn_number"] for r in rows} == {1, 2}


def test_errors_are_one_line(db: tuple[str, str], database_url: str, tmp_path) -> None:  # type: ignore[no-untyped-def]
    assert_one_line_error(invoke(*db, "audit", "show", "-t", "acme", "acme:support:nope"), "has no session")
    assert_one_line_error(invoke(*db, "audit", "show", "-t", "acme", SESSION, "--turn", "9"), "no turn 9")
    # globex's session, asked for as acme: not found, and nothing of globex's is shown
    other = invoke(*db, "audit", "show", "-t", "acme", "globex:support:c1")
    assert_one_line_error(other, "tenant 'acme' has no session 'globex:support:c1'")
    assert "globex only" not in other.stdout + other.stderr
    assert_one_line_error(invoke(*db, "audit", "list", "-t", "bad tenant"), "invalid tenant id")
    empty = ("--database-url", f"sqlite:///{tmp_path / 'empty.db'}")
    assert_one_line_error(invoke(*empty, "audit", "list", "-t", "acme"), "focal db upgrade")
    missing = invoke(*db, "audit", "show", SESSION)
    assert missing.exit_code == 2 and missing.stderr.startswith("error: ")
    assert invoke("audit").exit_code == 2
