"""Telemetry: call and run records, the SQL store with its batched writer, analytics, retention."""

from focal.telemetry.records import CallStatus, LLMCallRecord, WorkflowRunRecord, new_id
from focal.telemetry.store import TelemetryStore

__all__ = ["CallStatus", "LLMCallRecord", "TelemetryStore", "WorkflowRunRecord", "new_id"]
