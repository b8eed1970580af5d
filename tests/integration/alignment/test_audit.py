"""The turn store on SQLite and PostgreSQL: records round trip whole, tenants stay apart, a taken turn
number writes nothing, and the turn's run row is written in the turn's transaction."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine, func, inspect, select, text

from focal.alignment.audit import TurnExistsError, TurnStore
from focal.alignment.turn import (
    EnforcementOutcome,
    GenerationAttempt,
    RuleOutcome,
    ScenarioMove,
    SkippedCall,
    StepModel,
    ToolOutcome,
    TurnRecord,
    Verdict,
)
from focal.errors import ConfigError, NotFoundError
from focal.storage import AlignmentTurnRow, Base, WorkflowRunRow, make_async_engine, make_sync_engine, upgrade
from focal.telemetry import WorkflowRunRecord

SESSION = "acme:support:c1"
T0 = dt.datetime(2026, 12, 9, 10, 0, tzinfo=dt.UTC)


def make_record(turn_number: int = 1, **changes: Any) -> TurnRecord:
    """A turn with every part filled (a regeneration after a judge's violation, a failed tool, a skipped call)."""
    fields: dict[str, Any] = {
        "turn_id": f"turn-{turn_number}",
        "tenant_id": "acme",
        "agent_id": "support",
        "session_id": SESSION,
        "user_id": "cust-1",
        "run_id": f"run-{turn_number}",
        "turn_number": turn_number,
        "config_version": "v-abc123",
        "reconciliation": None,
        "message": "Where is order A-1001? I want a refund.",
        "intent": "order_status",
        "rules": (
            RuleOutcome(rule_id="greeting", kept=True, reason="always applies", decided_by="filter"),
            RuleOutcome(rule_id="refund_over_limit", kept=False, reason="amount 20 <= 50", decided_by="expression"),
            RuleOutcome(rule_id="no_promises", kept=True, reason="the customer asks for a date", decided_by="model"),
        ),
        "scenario": ScenarioMove(
            action="start",
            after_scenario="order_status",
            after_step="lookup",
            skipped_steps=("ask_order",),
            reason="order number given",
        ),
        "tools": (
            ToolOutcome(
                tool_id="order_lookup",
                required=True,
                ok=True,
                arguments={"order_number": "A-1001"},
                output={"status": "shipped", "total": 20},
                elapsed_ms=12.5,
                bound_by="step:order_status/lookup",
            ),
            ToolOutcome(tool_id="carrier_eta", required=False, ok=False, error="timeout", elapsed_ms=300.0),
        ),
        "attempts": (
            GenerationAttempt(
                number=1,
                source="model",
                reply="It arrives tomorrow, guaranteed.",
                verdicts=(Verdict(rule_id="no_promises", complies=False, by="judge", reason="promises a date"),),
            ),
            GenerationAttempt(
                number=2,
                source="model",
                reply="Order A-1001 has shipped.",
                verdicts=(Verdict(rule_id="no_promises", complies=True, by="judge", reason="no promise"),),
            ),
        ),
        "enforcement": EnforcementOutcome(status="regenerated", attempts=2, violations=("no_promises",)),
        "reply": "Order A-1001 has shipped.",
        "models": (
            StepModel(
                step="context_extraction",
                model="ollama/qwen3:0.6b",
                reason="catalog agents/support.yaml",
                input_tokens=120,
                output_tokens=30,
                cost_usd=Decimal("0.000000001"),
                latency_ms=80.0,
            ),
            StepModel(
                step="generation",
                model="anthropic/claude-haiku-4-5",
                reason="tenant override acme/support/generation",
                attempts=2,
                input_tokens=900,
                output_tokens=60,
                cost_usd=Decimal("0.0012345"),
                latency_ms=950.5,
            ),
        ),
        "skipped_calls": (SkippedCall(step="scenario_filtering", reason="decided deterministically"),),
        "input_tokens": 1020,
        "output_tokens": 90,
        "cost_usd": Decimal("0.001234501"),
        "latency_ms": 1234.5,
        "created_at": T0 + dt.timedelta(minutes=turn_number),
    }
    return TurnRecord(**(fields | changes))


def make_run(record: TurnRecord, **changes: Any) -> WorkflowRunRecord:
    fields: dict[str, Any] = {
        "run_id": record.run_id,
        "tenant_id": record.tenant_id,
        "agent_id": record.agent_id,
        "session_id": record.session_id,
        "workflow_name": "alignment",
        "status": "completed",
        "started_at": record.created_at - dt.timedelta(seconds=2),
        "ended_at": record.created_at,
        "steps": ["context_extraction", "generation"],
        "call_count": 3,
        "input_tokens": 1020,
        "output_tokens": 90,
        "cost_usd": Decimal("0.001234501"),
    }
    return WorkflowRunRecord(**(fields | changes))


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    upgrade(database_url)
    engine = make_sync_engine(database_url)
    yield engine
    engine.dispose()


@pytest.fixture
def store(engine: Engine) -> TurnStore:
    return TurnStore(engine)


def _runs(engine: Engine) -> dict[tuple[str, str], Any]:
    with engine.connect() as conn:
        return {(r.tenant_id, r.run_id): r for r in conn.execute(select(WorkflowRunRow))}


def _turn_count(engine: Engine) -> int:
    with engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(AlignmentTurnRow)).scalar_one()


def test_the_table_matches_its_migration(engine: Engine) -> None:
    with engine.connect() as conn:
        context = MigrationContext.configure(
            conn,
            opts={
                "compare_type": True,
                "include_object": lambda obj, name, kind, r, c: kind != "table" or name == "alignment_turns",
            },
        )
        assert compare_metadata(context, Base.metadata) == []
    insp = inspect(engine)
    key = insp.get_pk_constraint("alignment_turns")["constrained_columns"]
    assert key == ["tenant_id", "session_id", "turn_number"]
    indexes = {i["name"]: i["column_names"] for i in insp.get_indexes("alignment_turns")}
    assert indexes["ix_alignment_turns_tenant_created"] == ["tenant_id", "created_at"]
    assert indexes["ix_alignment_turns_tenant_agent"] == ["tenant_id", "agent_id"]


def test_0011_downgrades_and_upgrades_again(database_url: str, engine: Engine) -> None:
    from alembic import command

    from focal.storage import current_revision, head_revision
    from focal.storage._migrate import _config

    cfg = _config()
    with engine.begin() as conn:
        cfg.attributes["connection"] = conn
        command.downgrade(cfg, "0010_demo_tools")
    assert current_revision(engine) == "0010_demo_tools"
    assert "alignment_turns" not in inspect(engine).get_table_names()
    assert upgrade(database_url) == ("0010_demo_tools", head_revision())
    assert "alignment_turns" in inspect(engine).get_table_names()


def test_save_and_get_round_trip_every_part(store: TurnStore, engine: Engine) -> None:
    first, second = make_record(1), make_record(2, reply="Shipped \x00today.", message="and the refund? ünïcødé")
    assert store.next_turn_number("acme", SESSION) == 1
    store.save(first, make_run(first))
    store.save(second)
    assert store.next_turn_number("acme", SESSION) == 3
    assert store.get("acme", SESSION) == [first, second]  # in order, whole: parts, Decimals, times
    (only,) = store.get("acme", SESSION, 2)
    assert only == second and only.cost_usd == Decimal("0.001234501") and only.models[0].cost_usd == Decimal("1E-9")
    assert only.created_at == second.created_at and only.created_at.tzinfo is not None
    summary = store.list("acme")
    assert [(s.turn_number, s.status, s.cost_usd, s.config_version) for s in summary] == [
        (2, "regenerated", Decimal("0.001234501"), "v-abc123"),
        (1, "regenerated", Decimal("0.001234501"), "v-abc123"),
    ]
    assert summary[0].reply == "Shipped today." and summary[1].run_id == "run-1"  # the summary column holds no NUL
    with pytest.raises(NotFoundError, match="no turn 3"):
        store.get("acme", SESSION, 3)


def test_list_is_newest_first_per_agent_and_limited(store: TurnStore) -> None:
    store.save(make_record(1))
    store.save(make_record(1, session_id="acme:sales:c9", agent_id="sales", turn_id="s-1", run_id=None))
    store.save(make_record(2))
    assert [(s.session_id, s.turn_number) for s in store.list("acme")] == [
        (SESSION, 2),
        ("acme:sales:c9", 1),
        (SESSION, 1),
    ]
    assert [s.agent_id for s in store.list("acme", "sales")] == ["sales"]
    assert [s.turn_number for s in store.list("acme", limit=1)] == [2]
    with pytest.raises(ValueError, match="limit"):
        store.list("acme", limit=0)


def test_another_tenant_cannot_read_a_session_even_with_the_same_id(store: TurnStore) -> None:
    store.save(make_record(1))
    for read in (lambda: store.get("globex", SESSION), lambda: store.get("globex", SESSION, 1)):
        with pytest.raises(NotFoundError) as info:
            read()
        assert "acme" not in str(info.value).replace(SESSION, "")  # nothing of acme's is told
    assert store.list("globex") == [] and store.next_turn_number("globex", SESSION) == 1
    theirs = make_record(1, tenant_id="globex", message="globex's own words")  # the same session id, turn, turn id
    store.save(theirs)
    assert store.get("globex", SESSION) == [theirs]
    assert store.get("acme", SESSION)[0].message != theirs.message
    with pytest.raises(ConfigError):
        store.get("bad tenant", SESSION)


def test_a_taken_turn_number_writes_nothing_not_even_the_run(store: TurnStore, engine: Engine) -> None:
    first = make_record(1)
    store.save(first, make_run(first))
    again = make_record(1, turn_id="turn-other", run_id="run-other", reply="another reply")
    with pytest.raises(TurnExistsError, match=r"session 'acme:support:c1': turn 1 is already recorded"):
        store.save(again, make_run(again))
    assert store.get("acme", SESSION) == [first] and _turn_count(engine) == 1
    assert set(_runs(engine)) == {("acme", "run-1")}  # the refused turn's run row was not written
    same_id = make_record(2, turn_id="turn-1", run_id="run-2")
    with pytest.raises(TurnExistsError, match="turn id 'turn-1' is already recorded"):
        store.save(same_id, make_run(same_id))
    assert _turn_count(engine) == 1 and set(_runs(engine)) == {("acme", "run-1")}


def test_the_run_row_is_written_in_the_turns_transaction(
    store: TurnStore, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    record = make_record(1)
    early = make_run(record, status="running", ended_at=None, call_count=1, steps=["context_extraction"])
    store.save(make_record(1, session_id="acme:support:c0", turn_id="t0", run_id=None))  # a turn without a run
    with engine.begin() as conn:  # the telemetry store wrote the run's `running` state already
        from focal.telemetry import run_upsert

        conn.execute(run_upsert(early, conn.dialect.name))
    store.save(record, make_run(record))
    row = _runs(engine)[("acme", "run-1")]
    assert (row.status, row.call_count, row.cost_nusd, row.steps) == (
        "completed",
        3,
        1_234_501,
        ["context_extraction", "generation"],
    )
    with engine.begin() as conn:  # a late `running` record of the run does not move it back
        conn.execute(run_upsert(early, conn.dialect.name))
    assert _runs(engine)[("acme", "run-1")].status == "completed"

    # the run row fails: the turn is not written either
    second = make_record(2)
    import focal.alignment.audit as audit

    monkeypatch.setattr(audit, "run_upsert", lambda run, dialect: text("INSERT INTO no_such_table VALUES (1)"))
    with pytest.raises(Exception, match="no_such_table"):
        store.save(second, make_run(second))
    assert [r.turn_number for r in store.get("acme", SESSION)] == [1]


def test_a_run_of_another_tenant_or_run_is_refused(store: TurnStore, engine: Engine) -> None:
    record = make_record(1)
    with pytest.raises(ValueError, match="is not the turn's"):
        store.save(record, make_run(record, tenant_id="globex"))
    with pytest.raises(ValueError, match="is not the turn's"):
        store.save(record, make_run(record, run_id="run-9"))
    with pytest.raises(ValueError, match="session_id is 600 characters long; at most 512"):
        store.save(make_record(1, session_id="s" * 600))
    assert _turn_count(engine) == 0 and _runs(engine) == {}


def test_the_async_methods(database_url: str) -> None:
    upgrade(database_url)

    async def scenario() -> None:
        engine = make_async_engine(database_url)
        try:
            store = TurnStore(async_engine=engine)
            first = make_record(1)
            await store.asave(first, make_run(first))
            with pytest.raises(TurnExistsError):
                await store.asave(first)
            assert await store.aget("acme", SESSION) == [first]
            assert [s.turn_id for s in await store.alist("acme", "support")] == ["turn-1"]
            assert await store.anext_turn_number("acme", SESSION) == 2
            with pytest.raises(NotFoundError):
                await store.aget("globex", SESSION)
            with pytest.raises(RuntimeError, match="a\\* methods"):
                store.get("acme", SESSION)
        finally:
            await engine.dispose()

    asyncio.run(scenario())


def test_a_sync_only_store_serves_the_async_methods_in_a_thread(store: TurnStore) -> None:
    record = make_record(1)
    asyncio.run(store.asave(record))
    assert asyncio.run(store.aget("acme", SESSION)) == [record]
    with pytest.raises(ValueError, match="needs an engine"):
        TurnStore()
