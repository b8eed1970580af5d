"""`focal telemetry ...`: calls, runs, costs, providers, fallbacks, savings, retention, export, report."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import typer
from sqlalchemy import Engine

from focal.cli._common import JSON_OPTION, console, fail, handle_errors, money, print_json, print_table, settings
from focal.storage import make_sync_engine, require_schema
from focal.telemetry import DIMENSIONS, TelemetryAnalytics, export_jsonl, purge, write_report

app = typer.Typer(help="Telemetry: every LLM call attempt and workflow run, with costs.", no_args_is_help=True)

TENANT = typer.Option(None, "--tenant", "-t", help="Only this tenant.")
SINCE = typer.Option(
    None, "--since", "-s", help="ISO date/time (2026-11-01, 2026-11-01T12:00) or relative: 7d, 24h, 30m."
)
_RELATIVE = re.compile(r"^(\d+)([dhm])$")
_EARLIEST = dt.datetime.min.replace(tzinfo=dt.UTC)  # 0001-01-01: nothing older can be represented
# The most rows a --limit may ask for: the database's signed 64-bit LIMIT.
MAX_ROWS = 2**63 - 1


def parse_since(value: str | None, now: dt.datetime | None = None) -> dt.datetime | None:
    """`--since` as an aware UTC datetime.

    Raises:
        typer.Exit: (after printing the error) for an unreadable value, or one so far back (or an
            offset so far out) that it is not a representable date.
    """
    if not value:
        return None
    now = now or dt.datetime.now(dt.UTC)
    match = _RELATIVE.match(value.strip())
    if match:
        amount, unit = int(match.group(1)), match.group(2)
        unit_name = {"d": "days", "h": "hours", "m": "minutes"}[unit]
        try:
            return now - dt.timedelta(**{unit_name: amount})
        except OverflowError:
            raise fail(f"--since {value!r} is too far back: the earliest is {_EARLIEST.date().isoformat()}") from None
    try:
        parsed = dt.datetime.fromisoformat(value.strip())
    except ValueError:
        raise fail(f"--since {value!r}: use an ISO date/time (2026-11-01) or 7d / 24h / 30m") from None
    try:
        return parsed.replace(tzinfo=dt.UTC) if parsed.tzinfo is None else parsed.astimezone(dt.UTC)
    except OverflowError:
        raise fail(f"--since {value!r}: in UTC this falls outside the years 1-9999") from None


def _check_limit(limit: int) -> int:
    """`--limit` within what the database's LIMIT takes (typer already refuses values below 1)."""
    if limit > MAX_ROWS:
        raise fail(f"--limit {limit}: at most {MAX_ROWS}")
    return limit


def _check_output(file: Path) -> None:
    """Refuse an output path that can never be written, before anything is read or written."""
    if not file.name:
        raise fail(f"cannot write {str(file)!r}: give a file name")
    if file.is_dir():
        raise fail(f"cannot write {file}: it is a directory")
    if file.exists() and not (file.is_file() or file.is_fifo() or file.is_char_device()):
        raise fail(f"cannot write {file}: not a regular file, FIFO or character device")
    for parent in file.parents:
        if parent.exists():
            if not parent.is_dir():
                raise fail(f"cannot write {file}: {parent} is not a directory")
            break


@contextmanager
def _engine() -> Iterator[Engine]:
    url = settings().resolved_database_url
    require_schema(url)
    engine = make_sync_engine(url)
    try:
        yield engine
    finally:
        engine.dispose()


def _run(fn: Callable[[TelemetryAnalytics], Any]) -> Any:
    with _engine() as engine:
        return fn(TelemetryAnalytics(engine))


@contextmanager
def _writing(file: Path) -> Iterator[None]:
    """A file that cannot be written is one error line, not a traceback."""
    try:
        yield
    except OSError as exc:
        raise fail(f"cannot write {file}: {exc.strerror or exc}") from None


def _flat(record: dict[str, Any]) -> dict[str, Any]:
    """`--json` rows are flat: the free-form `metadata` dict becomes a compact JSON string."""
    meta = record.get("metadata")
    return record | {"metadata": json.dumps(meta, sort_keys=True, default=str) if meta else None}


@app.command("calls")
@handle_errors
def calls_cmd(
    tenant: str | None = TENANT,
    since: str | None = SINCE,
    limit: int = typer.Option(50, "--limit", "-n", min=1),
    as_json: bool = JSON_OPTION,
) -> None:
    """One row per attempt (retries, fallback hops and skipped hops included), newest first."""
    records = _run(lambda a: a.calls(tenant=tenant, since=parse_since(since), limit=_check_limit(limit)))
    if as_json:
        print_json(
            [
                _flat(r.to_json_dict())
                | {"cost_usd": r.cost_usd, "premium_cost_usd": r.premium_cost_usd, "savings_usd": r.savings_usd}
                for r in records
            ]
        )
        return
    print_table(
        "LLM call attempts (newest first)",
        ["time", "tenant", "agent", "step", "model", "hop", "try", "status", "error", "tokens in/out", "cost", "ms"],
        [
            (
                r.created_at.isoformat(timespec="seconds"),
                r.tenant_id,
                r.agent_id,
                r.step_name,
                f"{r.provider}/{r.model_id}",
                r.fallback_hop,
                r.attempt_number,
                r.status,
                r.error_class or "",
                f"{r.input_tokens}/{r.output_tokens}",
                money(r.cost_usd),
                f"{r.latency_ms:.0f}",
            )
            for r in records
        ],
    )


@app.command("runs")
@handle_errors
def runs_cmd(
    tenant: str | None = TENANT,
    since: str | None = SINCE,
    limit: int = typer.Option(50, "--limit", "-n", min=1),
    as_json: bool = JSON_OPTION,
) -> None:
    """Workflow runs, newest first."""
    records = _run(lambda a: a.runs(tenant=tenant, since=parse_since(since), limit=_check_limit(limit)))
    if as_json:
        print_json(
            [
                _flat(r.to_json_dict())
                | {"cost_usd": r.cost_usd, "premium_cost_usd": r.premium_cost_usd, "savings_usd": r.savings_usd}
                for r in records
            ]
        )
        return
    print_table(
        "Workflow runs (newest first)",
        ["started", "tenant", "agent", "workflow", "status", "calls", "fallbacks", "cost", "savings"],
        [
            (
                r.started_at.isoformat(timespec="seconds"),
                r.tenant_id,
                r.agent_id,
                r.workflow_name,
                r.status,
                r.call_count,
                r.fallback_count,
                money(r.cost_usd),
                money(r.savings_usd),
            )
            for r in records
        ],
    )


@app.command("costs")
@handle_errors
def costs_cmd(
    by: str = typer.Option("task", "--by", "-b", help=f"One of: {', '.join(DIMENSIONS)}"),
    tenant: str | None = TENANT,
    since: str | None = SINCE,
    as_json: bool = JSON_OPTION,
) -> None:
    """Cost grouped by task, tenant, agent, step, provider, model or tier (purged days included)."""
    if by not in DIMENSIONS:
        raise fail(f"--by {by!r}: use one of {', '.join(DIMENSIONS)}")
    rows = _run(lambda a: a.cost_by(by, tenant=tenant, since=parse_since(since)))
    if as_json:
        print_json(rows)
        return
    print_table(
        f"Cost by {by}",
        [by, "calls", "tokens in", "tokens out", "cost", "premium cost", "savings"],
        [
            (
                r[by],
                r["calls"],
                r["input_tokens"],
                r["output_tokens"],
                money(r["cost_usd"]),
                money(r["premium_cost_usd"]),
                money(r["savings_usd"]),
            )
            for r in rows
        ],
    )


@app.command("providers")
@handle_errors
def providers_cmd(tenant: str | None = TENANT, since: str | None = SINCE, as_json: bool = JSON_OPTION) -> None:
    """Per provider: attempts, error rate, p50/p95 latency, cost."""
    rows = _run(lambda a: a.provider_usage(tenant=tenant, since=parse_since(since)))
    if as_json:
        print_json(rows)
        return
    print_table(
        "Providers",
        ["provider", "calls", "errors", "error rate", "p50 ms", "p95 ms", "cost"],
        [
            (
                r["provider"],
                r["calls"],
                r["errors"],
                f"{r['error_rate']:.1%}",
                f"{r['p50_latency_ms']:.0f}",
                f"{r['p95_latency_ms']:.0f}",
                money(r["cost_usd"]),
            )
            for r in rows
        ],
    )


@app.command("fallbacks")
@handle_errors
def fallbacks_cmd(tenant: str | None = TENANT, since: str | None = SINCE, as_json: bool = JSON_OPTION) -> None:
    """Per step: how often a fallback hop answered, and why."""
    rows = _run(lambda a: a.fallback_stats(tenant=tenant, since=parse_since(since)))
    if as_json:
        print_json([r | {"causes": ", ".join(f"{k}:{v}" for k, v in r["causes"].items())} for r in rows])
        return
    print_table(
        "Fallbacks by step",
        ["step", "answered", "by fallback", "rate", "causes"],
        [
            (
                r["step"],
                r["answered"],
                r["by_fallback"],
                f"{r['fallback_rate']:.1%}",
                ", ".join(f"{k}: {v}" for k, v in r["causes"].items()),
            )
            for r in rows
        ],
    )


@app.command("savings")
@handle_errors
def savings_cmd(tenant: str | None = TENANT, since: str | None = SINCE, as_json: bool = JSON_OPTION) -> None:
    """Savings vs premium: the same tokens on the provider's premium tier, minus the actual cost."""
    row = _run(lambda a: a.savings_vs_premium(tenant=tenant, since=parse_since(since)))
    if as_json:
        print_json([row])
        return
    console.print(
        f"{row['calls']} calls cost {money(row['cost_usd'])}; on premium they would have cost "
        f"{money(row['premium_cost_usd'])}: saved {money(row['savings_usd'])} ({row['savings_percent']}%)"
    )


@app.command("retention")
@handle_errors
def retention_cmd(
    days: int = typer.Option(90, "--days", "-d", min=1, help="Keep this many days of call rows."),
    runs_days: int | None = typer.Option(
        None, "--runs-days", min=1, help="Keep this many days of workflow runs (default: --days)."
    ),
    apply: bool = typer.Option(False, "--apply", help="Purge (default: only report)."),
    as_json: bool = JSON_OPTION,
) -> None:
    """Fold rows older than N days into daily aggregates and delete them (dry run without --apply)."""
    longest = (dt.datetime.now(dt.UTC) - _EARLIEST).days
    for option, value in (("--days", days), ("--runs-days", runs_days)):
        if value is not None and value > longest:
            raise fail(f"{option} {value} is too many: at most {longest} (back to {_EARLIEST.date().isoformat()})")
    with _engine() as engine:
        rows = purge(engine, days=days, runs_days=runs_days, apply=apply)
    if as_json:
        print_json(rows)
        return
    for r in rows:
        verb = "purged" if apply else "would purge"
        console.print(f"{r['table']}: {verb} {r['rows']} row(s) older than {r['cutoff'].isoformat(timespec='seconds')}")
    if not apply:
        console.print("dry run: add --apply to purge (daily aggregates keep the totals)")


@app.command("export")
@handle_errors
def export_cmd(
    file: Path = typer.Argument(..., help="JSONL file to write"),
    tenant: str | None = TENANT,
    since: str | None = SINCE,
    as_json: bool = JSON_OPTION,
) -> None:
    """Export calls and runs as JSON lines."""
    _check_output(file)
    since_at = parse_since(since)
    with _engine() as engine, _writing(file):
        counts = export_jsonl(engine, file, tenant=tenant, since=since_at)
    if as_json:
        print_json([{"file": str(file), **counts}])
    else:
        console.print(f"wrote {counts['calls']} call(s) and {counts['runs']} run(s) to {file}", markup=False)


@app.command("report")
@handle_errors
def report_cmd(
    file: Path = typer.Argument(..., help="HTML file to write"),
    tenant: str | None = TENANT,
    since: str | None = SINCE,
    as_json: bool = JSON_OPTION,
) -> None:
    """Write a self-contained HTML page with charts (cost over time by tier, provider mix, fallback causes)."""
    _check_output(file)
    since_at = parse_since(since)
    with _writing(file):
        path = _run(lambda a: write_report(file, a, tenant=tenant, since=since_at))
    if as_json:
        print_json([{"file": str(path)}])
    else:
        console.print(f"wrote {path}", markup=False)
