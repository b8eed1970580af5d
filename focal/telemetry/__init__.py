"""Telemetry: call and run records, the SQL store with its batched writer, analytics, retention, reports."""

from focal.telemetry.analytics import DIMENSIONS, TelemetryAnalytics
from focal.telemetry.records import CallStatus, LLMCallRecord, WorkflowRunRecord, new_id
from focal.telemetry.report import write_report
from focal.telemetry.retention import export_jsonl, purge
from focal.telemetry.runs import RunTracker
from focal.telemetry.store import TelemetryStore, run_upsert

__all__ = [
    "DIMENSIONS",
    "CallStatus",
    "LLMCallRecord",
    "RunTracker",
    "TelemetryAnalytics",
    "TelemetryStore",
    "WorkflowRunRecord",
    "export_jsonl",
    "new_id",
    "purge",
    "run_upsert",
    "write_report",
]
