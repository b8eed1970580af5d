"""The composition root: `await Focal.create()` wires everything; a call needs only a context."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

import focal
from focal import Focal, FocalSettings, StorageError
from focal.execution import ExecutionContext
from focal.execution.testing import FakeModels
from focal.storage import LLMCallRow


async def test_create_run_and_close_records_telemetry(database_url: str, tmp_path: Path) -> None:
    fakes = FakeModels(default="hello from a fake model")
    settings = FocalSettings(database_url=database_url, data_dir=tmp_path)
    app = await Focal.create(settings, migrate=True, model_factory=fakes.factory)
    assert {"settings", "registry", "resolver", "executor", "telemetry"} <= set(vars(app))
    response = await app.executor.run(
        "hi", ExecutionContext(tenant_id="acme", agent_id="support", session_id="acme:s1", step_name="generation")
    )
    assert response.content == "hello from a fake model" and response.model_id == "claude-sonnet-5"
    await app.aclose()  # flushes telemetry
    from focal.storage import make_sync_engine

    engine = make_sync_engine(database_url)
    with engine.connect() as conn:
        rows = conn.execute(select(LLMCallRow.tenant_id, LLMCallRow.model_id, LLMCallRow.status)).all()
    engine.dispose()
    assert rows == [("acme", "claude-sonnet-5", "success")]


async def test_embedded_sqlite_is_migrated_postgres_is_not(tmp_path: Path, postgres_server: str) -> None:
    app = await Focal.create(FocalSettings(data_dir=tmp_path))
    assert (tmp_path / "focal.db").is_file()
    await app.aclose()
    from tests.conftest import _throwaway_postgres

    gen = _throwaway_postgres(postgres_server)
    url = next(gen)
    try:
        with pytest.raises(StorageError, match="focal db upgrade"):
            await Focal.create(FocalSettings(database_url=url, data_dir=tmp_path))
    finally:
        with pytest.raises(StopIteration):
            next(gen)


def test_focal_is_importable_lazily() -> None:
    assert focal.Focal is Focal
    with pytest.raises(AttributeError):
        focal.Nope  # noqa: B018


async def test_a_tracked_run_folds_its_calls(database_url: str, tmp_path: Path) -> None:
    fakes = FakeModels(default="ok", usage=(100, 20))
    app = await Focal.create(
        FocalSettings(database_url=database_url, data_dir=tmp_path), migrate=True, model_factory=fakes.factory
    )
    with app.runs.track(tenant_id="acme", agent_id="support", workflow_name="alignment", session_id="acme:s1") as run:
        for step in ("context_extraction", "generation"):
            await app.executor.run(
                "hi",
                ExecutionContext(
                    tenant_id="acme", agent_id="support", step_name=step, run_id=run.run_id, session_id="acme:s1"
                ),
            )
    with pytest.raises(RuntimeError), app.runs.track(tenant_id="acme", agent_id="support", workflow_name="alignment"):
        raise RuntimeError("step failed")
    await app.aclose()
    from focal.storage import make_sync_engine
    from focal.telemetry import TelemetryAnalytics

    engine = make_sync_engine(database_url)
    runs = TelemetryAnalytics(engine).runs()
    engine.dispose()
    done = next(r for r in runs if r.run_id == run.run_id)
    assert (done.status, done.call_count, done.steps, done.input_tokens) == (
        "completed",
        2,
        ["context_extraction", "generation"],
        200,
    )
    assert done.cost_usd > 0 and done.ended_at is not None
    failed = next(r for r in runs if r.run_id != run.run_id)
    assert failed.status == "error" and "step failed" in (failed.error or "")


def test_sync_close_spills_what_is_still_buffered(tmp_path: Path) -> None:
    from focal.telemetry import LLMCallRecord

    app = Focal.open(FocalSettings(data_dir=tmp_path), migrate=True)
    app.telemetry.record_call(
        LLMCallRecord(
            tenant_id="acme",
            agent_id="support",
            step_name="generation",
            provider="openai",
            tier="cheap",
            model_id="gpt-4o-mini",
        )
    )
    app.close()  # no event loop: nothing could be written yet
    spill = tmp_path / "telemetry-spill" / "telemetry-spill.jsonl"
    assert spill.is_file() and '"tenant_id": "acme"' in spill.read_text()


async def test_resilience_and_cost_limits_come_from_the_settings(tmp_path: Path) -> None:
    from decimal import Decimal

    from focal.execution import CostLimits, LimitAction

    settings = FocalSettings(
        data_dir=tmp_path,
        retry_max_attempts=5,
        retry_max_delay_seconds=3,
        breaker_failure_threshold=2,
        breaker_cooldown_seconds=7,
        stall_timeout_seconds=4,
        run_cost_limit_usd=Decimal("0.5"),
        cost_limit_action="downgrade",
    )
    app = await Focal.create(settings, model_factory=FakeModels().factory)
    try:
        executor = app.executor
        assert (executor.retry.max_attempts, executor.retry.max_delay) == (5, 3)
        policy = executor.breakers.get("openai:cheap").policy
        assert (policy.failure_threshold, policy.cooldown_seconds) == (2, 7)
        assert executor.stall_timeout_seconds == 4
        assert executor.cost_limits == CostLimits(per_run_usd=Decimal("0.5"), on_limit=LimitAction.DOWNGRADE)
    finally:
        await app.aclose()
    limits = CostLimits(steps={"generation": Decimal("0.01")})
    app = await Focal.create(FocalSettings(data_dir=tmp_path), model_factory=FakeModels().factory, cost_limits=limits)
    try:
        assert app.executor.cost_limits is limits  # explicit objects win over the settings
    finally:
        await app.aclose()
