"""The one shared alignment Workflow: nine function steps, built once per process, shared by every tenant.

    workflow = build_alignment_workflow(services, db=agno_db)
    out = await workflow.arun(
        input=TurnInput(message="Where is my order?"),
        session_id=session_id("acme", "support", "conv-1"),
        user_id="u-42",
        session_state={"tenant_id": "acme", "agent_id": "support"},
    )
    out.content  # TurnResult

Every step fails the run with its original typed error (Agno's skip-on-error and step retries are off:
the executor retries model calls itself). A session runs one turn at a time. With `stream=True` the
events of the earlier steps show progress; the reply's text is released only once enforcement passed
(the generation step's unchecked draft is never in a streamed event).
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from agno.workflow import HumanReview, OnError, Step, Workflow
from focal.workflows._session import MAX_SESSION_ID, SessionLocks, SessionOwnershipError, tenant_of
from focal.workflows._turn import PRE_TURN, WORKFLOW_NAME, TurnServices
from focal.workflows.steps.filtering import FilteringSteps
from focal.workflows.steps.persist import CURRENT_RUN, PersistStep
from focal.workflows.steps.replying import ReplySteps
from focal.workflows.steps.tooling import ToolSteps
from focal.workflows.steps.understand import UnderstandSteps

__all__ = ["STEP_NAMES", "AlignmentWorkflow", "build_alignment_workflow"]

STEP_NAMES = (
    PRE_TURN,
    "context_extraction",
    "retrieval",
    "rule_filtering",
    "scenario_filtering",
    "tool_execution",
    "generation",
    "enforcement",
    "persist_session_and_audit",
)
_UNCHECKED_STEPS = frozenset({"generation", "enforcement"})
"""Steps whose content holds drafts (the unchecked reply, rejected attempts): never in a streamed event."""


@dataclass(init=False)
class AlignmentWorkflow(Workflow):
    """Agno's `Workflow`, with the turn's guards around each run: the host's tenant and agent are
    required, a session runs one turn at a time, and the run is recorded (`WorkflowRunRecord`)."""

    turn_services: TurnServices | None = None
    session_locks: SessionLocks | None = None

    def __init__(
        self, *, turn_services: TurnServices | None = None, session_locks: SessionLocks | None = None, **kwargs: Any
    ) -> None:
        super().__init__(**kwargs)
        self.turn_services = turn_services
        self.session_locks = session_locks if session_locks is not None else SessionLocks()

    def arun(self, input: Any = None, *args: Any, **kwargs: Any) -> Any:  # type: ignore[override]
        """As `Workflow.arun`; `session_id` and `session_state={"tenant_id", "agent_id"}` are required.

        Raises:
            SessionOwnershipError: no tenant or agent in `session_state`, no `session_id`, or a session
                of another tenant or agent.
            SessionBusyError: another turn of the session held it for longer than the wait allowed.
            (and the typed error of the step that failed)
        """
        if args:
            raise TypeError("AlignmentWorkflow.arun takes its arguments by keyword, after `input`")
        if kwargs.get("stream"):
            return self._stream(input, kwargs)
        return self._once(input, kwargs)

    def _guard(self, kwargs: dict[str, Any]) -> tuple[str, str, str]:
        tenant_id, agent_id = tenant_of(kwargs.get("session_state") or {})
        session = kwargs.get("session_id")
        if not session:
            raise SessionOwnershipError(
                "a turn needs an explicit session_id (focal.session_id(tenant, agent, conversation))"
            )
        if not isinstance(session, str) or len(session) > MAX_SESSION_ID:
            raise SessionOwnershipError(f"a session id is a string of at most {MAX_SESSION_ID} characters")
        kwargs["run_id"] = kwargs.get("run_id") or uuid.uuid4().hex
        return tenant_id, agent_id, session

    @asynccontextmanager
    async def _turn(self, kwargs: dict[str, Any]) -> AsyncIterator[None]:
        """The session held, the run recorded, and its record reachable by the persist step."""
        tenant_id, agent_id, session = self._guard(kwargs)
        assert self.session_locks is not None and self.turn_services is not None
        async with self.session_locks.hold(session, tenant_id):
            with self.turn_services.runs.track(
                tenant_id=tenant_id,
                agent_id=agent_id,
                workflow_name=WORKFLOW_NAME,
                session_id=session,
                run_id=kwargs["run_id"],
            ) as run:
                token = CURRENT_RUN.set(run)
                try:
                    yield
                finally:
                    CURRENT_RUN.reset(token)

    async def _once(self, input: Any, kwargs: dict[str, Any]) -> Any:
        async with self._turn(kwargs):
            return await super().arun(input, **kwargs)

    async def _stream(self, input: Any, kwargs: dict[str, Any]) -> AsyncIterator[Any]:
        kwargs.setdefault("stream_events", True)
        async with self._turn(kwargs):
            async for event in super().arun(input, **kwargs):
                if not _carries_unchecked_reply(event):
                    yield event


def _carries_unchecked_reply(event: Any) -> bool:
    """An event of a step whose content is a reply not enforced yet (its start event carries none)."""
    return getattr(event, "step_name", None) in _UNCHECKED_STEPS and getattr(event, "content", None) is not None


def build_alignment_workflow(
    services: TurnServices, *, db: Any = None, session_locks: SessionLocks | None = None
) -> AlignmentWorkflow:
    """The shared workflow over `services`, its sessions in `db` (an Agno db; `Focal` passes its own)."""
    understand, filtering = UnderstandSteps(services), FilteringSteps(services)
    tools, replies, persist = ToolSteps(services), ReplySteps(services), PersistStep(services)
    executors: dict[str, Callable[..., Any]] = {
        PRE_TURN: understand.pre_turn_reconciliation,
        "context_extraction": understand.context_extraction,
        "retrieval": understand.retrieval,
        "rule_filtering": filtering.rule_filtering,
        "scenario_filtering": filtering.scenario_filtering,
        "tool_execution": tools.tool_execution,
        "generation": replies.generation,
        "enforcement": replies.enforcement,
        "persist_session_and_audit": persist.persist_session_and_audit,
    }
    steps = [
        Step(name=name, executor=executors[name], max_retries=0, human_review=HumanReview(on_error=OnError.fail))
        for name in STEP_NAMES
    ]
    return AlignmentWorkflow(
        id="focal-alignment",
        name="Focal alignment",
        description="One turn of a conversational agent: understand, retrieve, filter, act, reply, enforce, record.",
        steps=steps,
        db=db,
        telemetry=False,
        turn_services=services,
        session_locks=session_locks,
    )
