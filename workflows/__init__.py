"""Focal workflows (installed as focal.workflows): the one shared alignment Workflow."""

from focal.workflows._session import SessionBusyError, SessionLocks, SessionOwnershipError, session_id
from focal.workflows._turn import TurnServices
from focal.workflows.alignment import STEP_NAMES, AlignmentWorkflow, build_alignment_workflow

__all__ = [
    "STEP_NAMES",
    "AlignmentWorkflow",
    "SessionBusyError",
    "SessionLocks",
    "SessionOwnershipError",
    "TurnServices",
    "build_alignment_workflow",
    "session_id",
]
