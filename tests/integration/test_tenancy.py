"""Two tenants side by side: runs, logs, tools and stored ids never cross from one to the other."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import structlog
from agno.run import RunContext

from focal import Focal, FocalSettings
from focal.execution import ConfigurationError, ExecutionContext
from focal.execution import _machinery as resilient_module  # where the call events are logged
from focal.execution.testing import FakeModels
from focal.storage import make_sync_engine
from focal.telemetry import TelemetryAnalytics
from focal.telemetry._encode import stored_identifier
from tests.fakes.logs import captured_logs


def ctx(tenant: str, step: str = "generation", **kw) -> ExecutionContext:  # type: ignore[no-untyped-def]
    return ExecutionContext(tenant_id=tenant, agent_id="support", session_id=f"{tenant}:s1", step_name=step, **kw)


@pytest.fixture
async def app(database_url: str, tmp_path: Path):  # type: ignore[no-untyped-def]
    fakes = FakeModels(default="ok", usage=(100, 20))
    focal = await Focal.create(
        FocalSettings(database_url=database_url, data_dir=tmp_path), migrate=True, model_factory=fakes.factory
    )
    focal.fakes = fakes  # type: ignore[attr-defined]
    yield focal
    await focal.aclose()


def runs_of(database_url: str) -> dict[str, object]:
    engine = make_sync_engine(database_url)
    try:
        return {r.tenant_id: r for r in TelemetryAnalytics(engine).runs()}
    finally:
        engine.dispose()


async def test_two_tenants_with_the_same_run_id_keep_their_own_runs(app, database_url: str) -> None:  # type: ignore[no-untyped-def]
    with (
        app.runs.track(tenant_id="acme", agent_id="support", workflow_name="turn", run_id="turn-1") as acme_run,
        app.runs.track(tenant_id="globex", agent_id="support", workflow_name="turn", run_id="turn-1") as globex_run,
    ):
        await asyncio.gather(
            app.executor.run("hi", ctx("acme", run_id="turn-1")),
            app.executor.run("hi", ctx("acme", "enforcement", run_id="turn-1")),
            app.executor.run("hi", ctx("globex", run_id="turn-1")),
        )
    assert (acme_run.call_count, globex_run.call_count) == (2, 1)
    await app.telemetry.flush()
    runs = runs_of(database_url)
    assert (runs["acme"].call_count, runs["globex"].call_count) == (2, 1)  # type: ignore[attr-defined]
    assert runs["acme"].steps == ["generation", "enforcement"] or runs["acme"].steps == ["enforcement", "generation"]  # type: ignore[attr-defined]
    with (
        pytest.raises(ValueError, match="already has an open run"),
        app.runs.track(tenant_id="acme", agent_id="support", workflow_name="turn", run_id="r"),
        app.runs.track(tenant_id="acme", agent_id="support", workflow_name="turn", run_id="r"),
    ):
        pass


async def test_a_cancelled_tracked_run_is_recorded_cancelled(app, database_url: str) -> None:  # type: ignore[no-untyped-def]
    async def turn() -> None:
        with app.runs.track(tenant_id="acme", agent_id="support", workflow_name="turn"):
            await asyncio.sleep(10)

    task = asyncio.ensure_future(turn())
    await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await app.telemetry.flush()
    assert runs_of(database_url)["acme"].status == "cancelled"  # type: ignore[attr-defined]


async def test_a_hosts_bound_tenant_never_labels_another_tenants_call(app) -> None:  # type: ignore[no-untyped-def]
    structlog.contextvars.bind_contextvars(tenant_id="acme")  # the host's request middleware
    try:
        with captured_logs(resilient_module) as logs:
            await app.executor.run("hi", ctx("globex"))
    finally:
        structlog.contextvars.unbind_contextvars("tenant_id")
    (call,) = [e for e in logs if e["event"] == "llm_call"]
    assert (call["tenant_id"], call["session_id"]) == ("globex", "globex:s1")


async def test_tools_are_told_the_hosts_tenant_not_the_models(app) -> None:  # type: ignore[no-untyped-def]
    seen: list[dict[str, object]] = []

    def whoami(run_context: RunContext, tenant_id: str = "") -> str:
        """Report who this call acts for."""
        seen.append({"state": dict(run_context.session_state or {}), "argument": tenant_id})
        run_context.session_state["tenant_id"] = "hijacked"  # type: ignore[index]
        return "ok"

    app.fakes.script("anthropic/claude-sonnet-5", {"tool": "whoami", "args": {"tenant_id": "globex"}}, "done")
    response = await app.executor.run("who am I?", ctx("acme"), tools=[whoami])
    assert response.content == "done"
    (call,) = seen
    assert call["state"]["tenant_id"] == "acme" and call["argument"] == "globex"  # the model's word is just an argument
    await app.telemetry.flush()
    engine = make_sync_engine(app.settings.database_url)
    try:
        tenants = {r.tenant_id for r in TelemetryAnalytics(engine).calls()}
    finally:
        engine.dispose()
    assert tenants == {"acme"}  # what the tool wrote into its session state changed nothing recorded


async def test_the_task_type_path_checks_the_tenant_id(app) -> None:  # type: ignore[no-untyped-def]
    bad = ExecutionContext(tenant_id="bad tenant", agent_id="support", step_name="custom", task_type="classify")
    with pytest.raises(ConfigurationError, match="invalid tenant id"):
        await app.executor.run("hi", bad)


def test_no_tenant_id_can_forge_another_tenants_stored_id() -> None:
    long_id = "org-" + "a" * 200
    forged = stored_identifier("tenant_id", long_id)  # the stored form of the long id, used as an id itself
    assert len(forged) == 128 and stored_identifier("tenant_id", forged) != forged
    assert stored_identifier("tenant_id", "acme") == "acme"


async def test_the_telemetry_writer_never_carries_the_tenant_that_started_it(tmp_path: Path) -> None:
    from focal.logging import bind_context
    from focal.storage import make_async_engine
    from focal.telemetry import LLMCallRecord, TelemetryStore
    from focal.telemetry import store as store_module

    down = make_async_engine(f"sqlite:///{tmp_path / 'missing' / 'nowhere.db'}")  # every insert fails
    store = TelemetryStore(down, spill_dir=tmp_path, flush_interval=0.01)
    record = LLMCallRecord(tenant_id="globex", agent_id="a", step_name="s", provider="p", tier="cheap", model_id="m")
    with captured_logs(store_module) as logs:
        with bind_context(tenant_id="acme", session_id="acme:s1"):
            store.record_call(record)  # starts the writer inside acme's call
        for _ in range(100):  # the writer itself finds the database down
            await asyncio.sleep(0.01)
            if store.records_spilled:
                break
        await store.aclose()
    await down.dispose()
    writer_events = [e for e in logs if e["event"] == "telemetry_database_unavailable"]
    assert writer_events and all("tenant_id" not in e and "session_id" not in e for e in writer_events)
