"""`RunTracker`: one `WorkflowRunRecord` per workflow run, folded from its calls as they are recorded."""

from __future__ import annotations

import asyncio
import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, Protocol

from focal.routing import check_tenant_id
from focal.telemetry.records import LLMCallRecord, WorkflowRunRecord

__all__ = ["RunTracker"]


class _Sink(Protocol):
    def record_call(self, record: LLMCallRecord) -> None: ...
    def record_run(self, record: WorkflowRunRecord) -> None: ...


class RunTracker:
    """Sits between the executor and the store: passes every call record on, and adds it to its run's
    totals when the call carries the `run_id` of a run started here."""

    def __init__(self, sink: _Sink) -> None:
        self._sink = sink
        self._active: dict[tuple[str, str], WorkflowRunRecord] = {}  # (tenant, run id): host run ids may repeat

    def record_call(self, record: LLMCallRecord) -> None:
        """The executor's recorder."""
        run = self._active.get((record.tenant_id, record.run_id)) if record.run_id else None  # never another tenant's
        if run is not None:
            run.add_call(record)
        self._sink.record_call(record)

    def start(
        self,
        *,
        tenant_id: str,
        agent_id: str,
        workflow_name: str,
        session_id: str | None = None,
        run_id: str | None = None,
        metadata: dict[str, Any] | None = None,
    ) -> WorkflowRunRecord:
        """Open a run (recorded at once with status `running`).

        Raises:
            ConfigError: a malformed tenant id.
            ValueError: `run_id` names a run of this tenant still open here.
        """
        check_tenant_id(tenant_id)
        run = WorkflowRunRecord(
            tenant_id=tenant_id,
            agent_id=agent_id,
            workflow_name=workflow_name,
            session_id=session_id,
            metadata=dict(metadata or {}),
        )
        if run_id:
            run.run_id = run_id
        if (tenant_id, run.run_id) in self._active:
            raise ValueError(f"tenant {tenant_id!r} already has an open run {run.run_id!r}")
        self._active[(tenant_id, run.run_id)] = run
        self._sink.record_run(run)
        return run

    def finish(
        self, run_id: str, *, tenant_id: str, status: str = "completed", error: str | None = None
    ) -> WorkflowRunRecord | None:
        """Close a run with its final status and totals."""
        run = self._active.pop((tenant_id, run_id), None)
        if run is None:
            return None
        run.status, run.error, run.ended_at = status, error, dt.datetime.now(dt.UTC)
        self._sink.record_run(run)
        return run

    @contextmanager
    def track(self, **kwargs: Any) -> Iterator[WorkflowRunRecord]:
        """`with tracker.track(tenant_id=..., agent_id=..., workflow_name=...) as run:` — give calls
        `ExecutionContext(run_id=run.run_id, ...)`; the run ends `completed`, or `error` with the exception."""
        run = self.start(**kwargs)
        try:
            yield run
        except BaseException as exc:
            self.finish(
                run.run_id,
                tenant_id=run.tenant_id,
                status="cancelled"
                if isinstance(exc, KeyboardInterrupt | asyncio.CancelledError | GeneratorExit)
                else "error",
                error=f"{type(exc).__name__}: {exc}",
            )
            raise
        self.finish(run.run_id, tenant_id=run.tenant_id)
