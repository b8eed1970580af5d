"""Alembic migrations on SQLite and PostgreSQL: create, no-op re-run, revisions, schema checks."""

from __future__ import annotations

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect, text

from focal import ConfigError, StorageError
from focal.storage import Base, current_revision, head_revision, make_sync_engine, require_schema, upgrade
from focal.storage._migrate import _config

ROUTING_TABLES = {"tenant_model_overrides", "tenant_model_override_changes"}
BUDGET_TABLES = {"tenant_budgets", "budget_usage", "budget_reservations"}
TELEMETRY_TABLES = {"llm_calls", "workflow_runs", "telemetry_daily_aggregates", "workflow_run_daily_aggregates"}
ALIGNMENT_TABLES = {"alignment_versions", "alignment_current"}
DEMO_TABLES = {"demo_customers", "demo_orders", "demo_refunds"}
ALL_TABLES = ROUTING_TABLES | BUDGET_TABLES | TELEMETRY_TABLES | ALIGNMENT_TABLES | DEMO_TABLES
UNREACHABLE = "postgresql+psycopg://postgres@127.0.0.1:1/x"


def test_revisions_are_one_linear_chain() -> None:
    script = ScriptDirectory.from_config(_config())
    chain = [rev.revision for rev in script.walk_revisions()]  # newest first
    assert chain == [
        "0012_session_leases",
        "0011_alignment_turns",
        "0010_demo_tools",
        "0009_alignment",
        "0008_runs_per_tenant",
        "0007_workflow_run_aggregates",
        "0006_cache_write_tokens",
        "0005_budget_reservations",
        "0004_call_attempts",
        "0003_budgets",
        "0002_telemetry",
        "0001_routing",
    ]
    assert head_revision() == "0012_session_leases"
    assert len(script.get_heads()) == 1


def test_upgrade_creates_the_schema_and_a_second_run_is_a_no_op(database_url: str) -> None:
    head = head_revision()
    assert current_revision(database_url) is None
    assert upgrade(database_url) == (None, head)
    assert current_revision(database_url) == head
    assert upgrade(database_url) == (head, head)  # no-op
    engine = make_sync_engine(database_url)
    try:
        insp = inspect(engine)
        assert ALL_TABLES | {"alembic_version"} <= set(insp.get_table_names())
        columns = {c["name"]: c for c in insp.get_columns("tenant_model_overrides")}
        assert list(columns) == [
            "id",
            "tenant_id",
            "agent_id",
            "step",
            "model_ref",
            "fallback_chain",
            "created_at",
            "updated_at",
            "changed_by",
        ]
        assert {name for name, c in columns.items() if c["nullable"]} == {"fallback_chain"}
        uniques = insp.get_unique_constraints("tenant_model_overrides")
        assert [(u["name"], u["column_names"]) for u in uniques] == [
            ("uq_tenant_model_overrides_key", ["tenant_id", "agent_id", "step"])
        ]
        assert insp.get_pk_constraint("tenant_model_overrides")["constrained_columns"] == ["id"]
        indexes = {i["name"]: i["column_names"] for i in insp.get_indexes("tenant_model_overrides")}
        assert indexes.get("ix_tenant_model_overrides_tenant_id") == ["tenant_id"]
        change_columns = [c["name"] for c in insp.get_columns("tenant_model_override_changes")]
        assert change_columns == [
            "id",
            "tenant_id",
            "agent_id",
            "step",
            "action",
            "model_ref",
            "fallback_chain",
            "previous_model_ref",
            "changed_by",
            "changed_at",
        ]
        with engine.connect() as conn:
            assert conn.execute(text("select version_num from alembic_version")).scalars().all() == [head]
    finally:
        engine.dispose()


@pytest.mark.parametrize(
    "tables",
    [ROUTING_TABLES, BUDGET_TABLES, TELEMETRY_TABLES, ALIGNMENT_TABLES, DEMO_TABLES],
    ids=["routing", "budgets", "telemetry", "alignment", "demo"],
)
def test_tables_match_the_orm_models(database_url: str, tables: set[str]) -> None:
    upgrade(database_url)
    engine = make_sync_engine(database_url)
    try:
        with engine.connect() as conn:
            context = MigrationContext.configure(
                conn,
                opts={
                    "compare_type": True,
                    "include_object": lambda obj, name, kind, reflected, compare_to: kind != "table" or name in tables,
                },
            )
            diffs = compare_metadata(context, Base.metadata)
    finally:
        engine.dispose()
    assert diffs == []


def test_0005_budget_reservations_downgrades_and_upgrades_again(database_url: str) -> None:
    from alembic import command

    assert upgrade(database_url, "0004_call_attempts") == (None, "0004_call_attempts")
    assert upgrade(database_url, "0005_budget_reservations") == ("0004_call_attempts", "0005_budget_reservations")
    engine = make_sync_engine(database_url)
    try:
        insp = inspect(engine)
        assert [c["name"] for c in insp.get_columns("budget_reservations")] == [
            "id",
            "tenant_id",
            "day_start",
            "month_start",
            "amount_nusd",
            "created_at",
            "expires_at",
            "reclaimed_at",
        ]
        indexes = {i["name"]: i["column_names"] for i in insp.get_indexes("budget_reservations")}
        assert indexes == {"ix_budget_reservations_tenant_expiry": ["tenant_id", "expires_at"]}
        cfg = _config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0004_call_attempts")
        assert current_revision(engine) == "0004_call_attempts"
        assert "budget_reservations" not in inspect(engine).get_table_names()
        assert {"tenant_budgets", "budget_usage"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert upgrade(database_url) == ("0004_call_attempts", head_revision())


def test_0007_workflow_run_aggregates_downgrades_and_upgrades_again(database_url: str) -> None:
    from alembic import command

    assert upgrade(database_url, "0006_cache_write_tokens") == (None, "0006_cache_write_tokens")
    assert upgrade(database_url, "0007_workflow_run_aggregates") == (
        "0006_cache_write_tokens",
        "0007_workflow_run_aggregates",
    )
    engine = make_sync_engine(database_url)
    try:
        insp = inspect(engine)
        assert [c["name"] for c in insp.get_columns("workflow_run_daily_aggregates")] == [
            "id",
            "day",
            "tenant_id",
            "agent_id",
            "workflow_name",
            "status",
            "runs",
            "call_count",
            "input_tokens",
            "output_tokens",
            "cached_input_tokens",
            "reasoning_tokens",
            "total_tokens",
            "cost_nusd",
            "premium_cost_nusd",
            "max_cost_nusd",
            "fallback_count",
            "ended_runs",
            "duration_ms_sum",
        ]
        uniques = insp.get_unique_constraints("workflow_run_daily_aggregates")
        assert [(u["name"], u["column_names"]) for u in uniques] == [
            ("uq_workflow_run_daily_aggregates_key", ["day", "tenant_id", "agent_id", "workflow_name", "status"])
        ]
        cfg = _config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0006_cache_write_tokens")
        assert current_revision(engine) == "0006_cache_write_tokens"
        assert "workflow_run_daily_aggregates" not in inspect(engine).get_table_names()
        assert {"workflow_runs", "telemetry_daily_aggregates"} <= set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert upgrade(database_url) == ("0006_cache_write_tokens", head_revision())


def test_upgrade_step_by_step(database_url: str) -> None:
    assert upgrade(database_url, "0001_routing") == (None, "0001_routing")
    engine = make_sync_engine(database_url)
    try:
        assert set(inspect(engine).get_table_names()) >= ROUTING_TABLES
        assert "llm_calls" not in set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    with pytest.raises(StorageError) as info:
        require_schema(database_url)
    assert str(info.value) == (
        f"the database is at schema 0001_routing, Focal needs {head_revision()}: run `focal db upgrade`"
    )
    assert upgrade(database_url) == ("0001_routing", head_revision())
    require_schema(database_url)


def test_require_schema(database_url: str) -> None:
    with pytest.raises(StorageError) as info:
        require_schema(database_url)
    assert str(info.value) == "the database has no Focal schema: run `focal db upgrade`"
    upgrade(database_url)
    assert require_schema(database_url) is None


def test_an_engine_can_be_passed_and_is_left_open(database_url: str) -> None:
    engine = make_sync_engine(database_url)
    try:
        assert current_revision(engine) is None
        assert upgrade(engine) == (None, head_revision())
        require_schema(engine)
        with engine.connect() as conn:  # still usable: Focal did not dispose the caller's engine
            assert conn.execute(text("select count(*) from tenant_model_overrides")).scalar_one() == 0
    finally:
        engine.dispose()


@pytest.mark.parametrize("call", [current_revision, upgrade, require_schema])
def test_unreachable_database(call) -> None:  # type: ignore[no-untyped-def]
    with pytest.raises(StorageError) as info:
        call(UNREACHABLE)
    assert str(info.value).startswith(f"cannot reach the database {UNREACHABLE}: ")


def test_unsupported_database_url() -> None:
    with pytest.raises(ConfigError, match="database_url: unsupported database 'mysql': use sqlite or postgresql"):
        upgrade("mysql://u@h/db")
    with pytest.raises(ConfigError, match="database_url: invalid database URL 'not a url'"):
        upgrade("not a url")


def test_sqlite_parent_directories_are_created(tmp_path) -> None:  # type: ignore[no-untyped-def]
    path = tmp_path / "deep" / "er" / "focal.db"
    assert upgrade(f"sqlite:///{path}") == (None, head_revision())
    assert path.is_file()


# --- a database migrated by a newer Focal ------------------------------------------------------


def _stamp(database_url: str, revision: str) -> None:
    engine = make_sync_engine(database_url)
    try:
        with engine.begin() as conn:
            conn.execute(text("update alembic_version set version_num = :rev"), {"rev": revision})
    finally:
        engine.dispose()


NEWER = (
    "the database is at schema revision '0099_from_the_future', which this Focal does not know: it was migrated "
    "by a newer Focal (this one's newest revision is '{head}'); upgrade Focal, or use a database of this version"
)


@pytest.mark.parametrize("call", [current_revision, upgrade, require_schema])
def test_a_revision_from_a_newer_focal_is_named_never_run_db_upgrade(database_url: str, call) -> None:  # type: ignore[no-untyped-def]
    upgrade(database_url)
    _stamp(database_url, "0099_from_the_future")
    with pytest.raises(StorageError) as info:
        call(database_url)
    assert str(info.value) == NEWER.format(head=head_revision())
    assert "focal db upgrade" not in str(info.value)
    engine = make_sync_engine(database_url)
    try:  # nothing was changed: still stamped with the newer revision
        with engine.connect() as conn:
            assert conn.execute(text("select version_num from alembic_version")).scalar_one() == "0099_from_the_future"
    finally:
        engine.dispose()


def test_an_unparseable_url_is_echoed_without_its_password() -> None:
    for url in ("postgresql://focal:s3cret@db:port/x", "postgresql://focal:s3/cr:et@db@h:x/db", "focal:s3cret@db:x"):
        with pytest.raises(ConfigError) as info:
            upgrade(url)
        assert "s3" not in str(info.value) and "focal:***@" in str(info.value), str(info.value)
        assert info.value.key == "database_url"


def _upgrade_in_a_process(url: str) -> str:
    from focal.storage import upgrade as upgrade_schema

    return upgrade_schema(url)[1]


def test_workers_starting_together_all_migrate_a_fresh_database(database_url: str) -> None:
    import multiprocessing

    with multiprocessing.get_context("spawn").Pool(6) as pool:
        results = pool.map(_upgrade_in_a_process, [database_url] * 6)
    assert results == [head_revision()] * 6  # none failed on a table another worker had just created


def test_a_password_with_an_unquoted_at_sign_never_shows() -> None:
    with pytest.raises(StorageError) as info:
        upgrade("postgresql+psycopg://u:p@ss@word@127.0.0.1:1/x")
    message = str(info.value)
    assert "ss@word" not in message and "p@ss" not in message and "u:***@" in message
    assert "%40" in message  # says how to write it


def test_0008_keys_runs_by_tenant_and_run_id_and_keeps_the_rows(database_url: str) -> None:
    from alembic import command

    upgrade(database_url, "0007_workflow_run_aggregates")
    engine = make_sync_engine(database_url)
    row = (
        "INSERT INTO workflow_runs (run_id, tenant_id, agent_id, workflow_name, status, started_at, call_count,"
        " input_tokens, output_tokens, cached_input_tokens, reasoning_tokens, total_tokens, cost_nusd,"
        " premium_cost_nusd, fallback_count) VALUES ('turn-1', :tenant, 'a', 'w', 'completed',"
        " '2026-12-01 10:00:00.000000', 1, 1, 1, 0, 0, 2, 5, 9, 0)"
    )
    try:
        with engine.begin() as conn:
            conn.execute(text(row), {"tenant": "acme"})
        assert upgrade(database_url) == ("0007_workflow_run_aggregates", head_revision())
        pk = inspect(engine).get_pk_constraint("workflow_runs")
        assert sorted(pk["constrained_columns"]) == ["run_id", "tenant_id"]
        with engine.begin() as conn:  # another tenant's run with the same host run id: its own row
            conn.execute(text(row), {"tenant": "globex"})
            runs = conn.execute(text("SELECT tenant_id, cost_nusd FROM workflow_runs ORDER BY tenant_id")).all()
        assert [tuple(r) for r in runs] == [("acme", 5), ("globex", 5)]
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM workflow_runs WHERE tenant_id = 'globex'"))
            cfg = _config()
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0007_workflow_run_aggregates")
        assert inspect(engine).get_pk_constraint("workflow_runs")["constrained_columns"] == ["run_id"]
    finally:
        engine.dispose()
    assert upgrade(database_url) == ("0007_workflow_run_aggregates", head_revision())


def test_0010_demo_tools_downgrades_and_upgrades_again(database_url: str) -> None:
    from alembic import command

    assert upgrade(database_url, "0010_demo_tools") == (None, "0010_demo_tools")
    engine = make_sync_engine(database_url)
    try:
        insp = inspect(engine)
        for table, key in (
            ("demo_customers", ["tenant_id", "customer_id"]),
            ("demo_orders", ["tenant_id", "order_number"]),
            ("demo_refunds", ["tenant_id", "refund_id"]),
        ):
            assert insp.get_pk_constraint(table)["constrained_columns"] == key  # the tenant leads every key
        uniques = {u["name"]: u["column_names"] for u in insp.get_unique_constraints("demo_refunds")}
        assert uniques == {"uq_demo_refunds_order": ["tenant_id", "order_number"]}
        cfg = _config()
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.downgrade(cfg, "0009_alignment")
        assert current_revision(engine) == "0009_alignment"
        assert not DEMO_TABLES & set(inspect(engine).get_table_names())
    finally:
        engine.dispose()
    assert upgrade(database_url) == ("0009_alignment", head_revision())
