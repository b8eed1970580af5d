"""Records → the rows `TelemetryStore` writes, stored alike by SQLite and PostgreSQL.

PostgreSQL refuses what SQLite stores (a string longer than its `VARCHAR(n)`, a NUL byte in text)
and its driver cannot encode what SQLite's adapter stringifies, so every value is first brought
into the form both accept:

- strings lose their NUL bytes and lone surrogates (as `?`); a value that is not a string in a
  string column becomes its `str()`;
- a string longer than its column (lengths read from the table definitions) is cut to fit: free
  text plainly, an identifier (tenant, agent, session, step, workflow, run and call ids, model, ...)
  to a prefix plus `~` and a hash of the whole value, so distinct long ids stay distinct and the
  same id always maps to the same stored value (`stored_identifier`);
- JSON values (`metadata`, a run's `steps`) are made plain JSON: `Decimal`, `datetime`, `UUID` and
  any other value become their `str()`, keys become strings, NaN and infinities become strings.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import math
import operator
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Any

from sqlalchemy import String, Table

from focal.storage.telemetry_tables import LLMCallRow, WorkflowRunRow
from focal.telemetry._rows import run_to_row
from focal.telemetry.records import LLMCallRecord, WorkflowRunRecord

FREE_TEXT = frozenset(
    {
        "resolution_source",
        "resolution_reason",
        "error_class",
        "error_message",
        "fallback_cause",
        "breaker_state",
        "finish_reason",
        "error",
    }
)
"""String columns cut plainly when too long; every other string column holds an identifier."""
_HASH_CHARS = 12
_HEX = re.compile(r"[0-9a-f]+")

_SQLITE_TS = "%Y-%m-%d %H:%M:%S.%f"  # SQLAlchemy's SQLite DATETIME storage format (UTC, as UtcDateTime reads it)
_NANO = Decimal(10**9)


def _string_columns(table: Table) -> dict[str, int | None]:
    """Name → length (None: unbounded) of each string column."""
    return {c.name: c.type.length for c in table.columns if isinstance(c.type, String)}


_CALL_STRINGS = _string_columns(LLMCallRow.__table__)  # type: ignore[arg-type]
_RUN_STRINGS = _string_columns(WorkflowRunRow.__table__)  # type: ignore[arg-type]


def clean(value: str) -> str:
    """`value` without NUL bytes or lone surrogates (which no driver can encode as UTF-8)."""
    if "\x00" in value:
        value = value.replace("\x00", "")
    if not value.isascii():
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            value = value.encode("utf-8", "replace").decode("utf-8")
    return value


def fit(value: Any, length: int | None, *, identifier: bool) -> Any:
    """`value` as a string both databases store: no NUL bytes, at most `length` characters. An
    identifier that had to be cut or cleaned keeps a hash of its whole original value, so two ids
    never become one (`"ac\\x00me"` is not stored as `"acme"`)."""
    if value is None:
        return None
    raw = value if type(value) is str else str(value)
    value = clean(raw)
    # an id that looks encoded is encoded too: no raw id can equal another id's stored form
    changed = identifier and ((value is not raw and value != raw) or _looks_encoded(value))
    if not changed and (length is None or len(value) <= length):
        return value
    if not identifier or (length is not None and length <= _HASH_CHARS + 1):
        return value[:length]
    digest = hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()[:_HASH_CHARS]
    keep = len(value) if length is None else min(len(value), length - _HASH_CHARS - 1)
    return f"{value[:keep]}~{digest}"


def _looks_encoded(value: str) -> bool:
    """Whether `value` ends like an encoded identifier: `~` and 12 hex digits."""
    return (
        len(value) > _HASH_CHARS and value[-_HASH_CHARS - 1] == "~" and _HEX.fullmatch(value[-_HASH_CHARS:]) is not None
    )


def stored_identifier(column: str, value: str) -> str:
    """How an identifier of `llm_calls` / `workflow_runs` (e.g. a `tenant_id`) is stored: lookups
    by a value longer than the column use this to find its rows."""
    length = _CALL_STRINGS.get(column, _RUN_STRINGS.get(column))
    return fit(value, length, identifier=column not in FREE_TEXT)


def _fitted_attribute(column: str, length: int | None) -> Callable[[Any], Any]:
    """record → its `column` value, fitted (one call per column: this runs for every string of every record)."""
    identifier = column not in FREE_TEXT
    limit = length if length is not None else float("inf")

    def fitted(record: Any) -> Any:
        value = getattr(record, column)
        if value is None or (
            type(value) is str
            and len(value) <= limit
            and value.isascii()
            and "\x00" not in value
            and (len(value) <= _HASH_CHARS or value[-_HASH_CHARS - 1] != "~")
        ):
            return value  # the common case
        return fit(value, length, identifier=identifier)

    return fitted


def plain_json(value: Any) -> Any:
    """`value` as plain JSON (what `json.loads(json.dumps(value, default=str))` gives), without NUL
    bytes, lone surrogates or non-finite numbers, which PostgreSQL's JSON refuses."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return clean(value)
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, dict):
        return {plain_json(k if isinstance(k, str) else str(k)): plain_json(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [plain_json(v) for v in value]
    return plain_json(str(value))


def run_row(record: WorkflowRunRecord) -> dict[str, Any]:
    """The `workflow_runs` row of a run record, in the form both databases store."""
    row = run_to_row(record)
    for column, length in _RUN_STRINGS.items():
        row[column] = fit(row[column], length, identifier=column not in FREE_TEXT)
    step_length = _CALL_STRINGS["step_name"]  # a run's steps are the step names of its calls, stored alike
    row["steps"] = [fit(step, step_length, identifier=True) for step in row["steps"]]
    row["metadata"] = plain_json(row["metadata"]) or None
    return row


def call_insert(dialect: str) -> tuple[str, Callable[[LLMCallRecord], tuple[Any, ...]]]:
    """The INSERT ... ON CONFLICT DO NOTHING for `llm_calls` in the driver's own paramstyle, and a
    record → parameter-tuple function (no intermediate dict: this is the telemetry hot path)."""
    columns = [c.name for c in LLMCallRow.__table__.columns]
    placeholder = "%s" if dialect == "postgresql" else "?"
    sql = (
        f"INSERT INTO llm_calls ({', '.join(columns)}) VALUES ({', '.join([placeholder] * len(columns))}) "
        "ON CONFLICT (attempt_id) DO NOTHING"
    )
    if dialect == "postgresql":
        from psycopg.types.json import Json

        def encode_meta(meta: dict[str, Any]) -> Any:
            return Json(plain_json(meta)) if meta else None

        def encode_time(value: dt.datetime) -> Any:
            return value

        def encode_bool(value: bool) -> Any:
            return value
    else:

        def encode_meta(meta: dict[str, Any]) -> Any:
            return json.dumps(plain_json(meta)) if meta else None

        def encode_time(value: dt.datetime) -> Any:
            return value.astimezone(dt.UTC).strftime(_SQLITE_TS)

        def encode_bool(value: bool) -> Any:
            return int(bool(value))

    special: dict[str, Any] = {
        "cost_nusd": lambda r: int((r.cost_usd * _NANO).to_integral_value()),
        "premium_cost_nusd": lambda r: int((r.premium_cost_usd * _NANO).to_integral_value()),
        "created_at": lambda r: encode_time(r.created_at),
        "metadata": lambda r: encode_meta(r.metadata),
        "streamed": lambda r: encode_bool(r.streamed),
    }
    getters: list[Callable[[LLMCallRecord], Any]] = []
    for column in columns:
        if column in special:
            getters.append(special[column])
        elif column in _CALL_STRINGS:
            getters.append(_fitted_attribute(column, _CALL_STRINGS[column]))
        else:
            getters.append(operator.attrgetter(column))

    def params(record: LLMCallRecord) -> tuple[Any, ...]:
        return tuple(get(record) for get in getters)

    return sql, params
