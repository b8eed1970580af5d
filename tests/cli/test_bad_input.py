"""Bad CLI input: one `error: ...` line naming the option or value, exit code 1, no traceback,
and nothing written."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from focal.cli import app
from focal.cli._common import handle_errors

runner = CliRunner()


def invoke(*args: str, env: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args), env=env)


def assert_one_line_error(result, *fragments: str) -> None:  # type: ignore[no-untyped-def]
    output = result.stdout + result.stderr
    assert result.exit_code == 1, output
    assert "Traceback" not in output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("error: ")
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture
def db(tmp_path: Path) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path / 'focal.db'}"
    assert invoke("--database-url", url, "db", "upgrade").exit_code == 0
    return ("--database-url", url)


# --- telemetry --since / --days / --limit ----------------------------------------------------

SINCE_COMMANDS = [
    ("calls",),
    ("runs",),
    ("costs",),
    ("providers",),
    ("fallbacks",),
    ("savings",),
]


@pytest.mark.parametrize("command", SINCE_COMMANDS)
@pytest.mark.parametrize(
    ("since", "fragment"),
    [
        ("99999999d", "too far back"),
        ("99999999999999999999999h", "too far back"),
        ("999999999999m", "too far back"),
        ("0001-01-01T00:00+01:00", "outside the years 1-9999"),
        ("9999-12-31T23:59-01:00", "outside the years 1-9999"),
    ],
)
def test_since_out_of_range_is_one_line(
    db: tuple[str, str], command: tuple[str, ...], since: str, fragment: str
) -> None:
    result = invoke(*db, "telemetry", *command, "--since", since)
    assert_one_line_error(result, f"--since {since!r}", fragment)


@pytest.mark.parametrize("command", ["export", "report"])
def test_since_out_of_range_writes_no_file(db: tuple[str, str], tmp_path: Path, command: str) -> None:
    out = tmp_path / "out" / "file"
    assert_one_line_error(invoke(*db, "telemetry", command, str(out), "--since", "99999999d"), "--since '99999999d'")
    assert not (tmp_path / "out").exists()


def test_retention_days_too_large_is_one_line(db: tuple[str, str]) -> None:
    assert_one_line_error(invoke(*db, "telemetry", "retention", "--days", "100000000"), "--days 100000000", "at most")
    assert_one_line_error(invoke(*db, "telemetry", "retention", "--days", "100000000", "--apply"), "--days 100000000")
    assert invoke(*db, "telemetry", "retention", "--days", "700000").exit_code == 0


@pytest.mark.parametrize("command", ["calls", "runs"])
def test_limit_too_large_is_one_line(db: tuple[str, str], command: str) -> None:
    huge = "99999999999999999999999"
    assert_one_line_error(invoke(*db, "telemetry", command, "--limit", huge), f"--limit {huge}")
    assert invoke(*db, "telemetry", command, "--limit", str(2**63 - 1)).exit_code == 0


@pytest.mark.parametrize("value", ["-5", "0"])
def test_limit_below_one_is_a_usage_error_not_a_traceback(db: tuple[str, str], value: str) -> None:
    result = invoke(*db, "telemetry", "calls", "--limit", value)
    assert result.exit_code == 2
    assert "Traceback" not in result.stdout + result.stderr and "--limit" in result.stderr
    assert isinstance(result.exception, SystemExit)


def test_unknown_by_is_one_line(db: tuple[str, str]) -> None:
    assert_one_line_error(invoke(*db, "telemetry", "costs", "--by", "colour"), "--by 'colour'")


# --- telemetry export / report destinations ----------------------------------------------------


@pytest.mark.parametrize("command", ["export", "report"])
def test_unwritable_destinations_are_one_line_and_leave_nothing(
    db: tuple[str, str], tmp_path: Path, command: str
) -> None:
    blocker = tmp_path / "plain-file"
    blocker.write_text("keep")
    directory = tmp_path / "a-dir"
    directory.mkdir()
    before = sorted(p.name for p in tmp_path.iterdir())
    assert_one_line_error(invoke(*db, "telemetry", command, str(directory)), str(directory), "is a directory")
    assert_one_line_error(
        invoke(*db, "telemetry", command, str(blocker / "x" / "out")), str(blocker), "not a directory"
    )
    assert_one_line_error(invoke(*db, "telemetry", command, ""), "give a file name")
    assert sorted(p.name for p in tmp_path.iterdir()) == before  # no `.partial` or other leftovers
    assert list(directory.iterdir()) == [] and blocker.read_text() == "keep"


# --- budgets -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("limit", "fragment"),
    [
        ("NaN", "finite"),
        ("sNaN", "finite"),
        ("Infinity", "finite"),
        ("-Infinity", "finite"),
        ("1e30", "above the largest budget"),
        ("1e999999999999", "above the largest budget"),
        ("9223372036.854775808", "above the largest budget"),
        ("0.000000000001", "below one nano-dollar"),
        ("-1", "negative"),
        ("lots", "not a number"),
        ("", "not a number"),
    ],
)
def test_budget_limit_refused_in_one_line_and_nothing_written(db: tuple[str, str], limit: str, fragment: str) -> None:
    result = invoke(*db, "budgets", "set", "-t", "acme", "-p", "day", "-l", limit)
    assert_one_line_error(result, "--limit", repr(limit), fragment)
    listed = invoke(*db, "budgets", "list", "-t", "acme", "--json")
    assert listed.exit_code == 0 and listed.stdout.strip() == "[]"


def test_refused_budget_limit_keeps_the_previous_one(db: tuple[str, str]) -> None:
    assert invoke(*db, "budgets", "set", "-t", "acme", "-p", "day", "-l", "2.5").exit_code == 0
    assert_one_line_error(invoke(*db, "budgets", "set", "-t", "acme", "-p", "day", "-l", "1e30"), "'1e30'")
    listed = invoke(*db, "budgets", "list", "-t", "acme", "--json")
    assert '"limit_usd": 2.5' in listed.stdout


@pytest.mark.parametrize(
    ("limit", "shown"),
    [
        ("0", "$0 "),
        ("0.000000001", "$0.000000001 "),
        ("1e2", "$100 "),
        ("9223372036.854775807", "$9223372036.854775807 "),
    ],
)
def test_budget_limit_edges_accepted_and_shown_plainly(db: tuple[str, str], limit: str, shown: str) -> None:
    result = invoke(*db, "budgets", "set", "-t", "acme", "-p", "month", "-l", limit)
    assert result.exit_code == 0, result.stderr
    assert shown in result.stdout


@pytest.mark.parametrize(
    "command",
    [
        ("budgets", "list", "-t", "bad tenant"),
        ("budgets", "remove", "-t", "bad tenant", "-p", "day"),
        ("budgets", "set", "-t", "bad tenant", "-p", "day", "-l", "1"),
        ("overrides", "list", "-t", "bad tenant"),
        ("overrides", "remove", "-t", "bad tenant", "-a", "support", "-s", "generation"),
        ("overrides", "set", "-t", "bad tenant", "-a", "support", "-s", "generation", "-m", "openai:capable"),
        ("models", "resolve", "-t", "bad tenant", "-a", "support"),
    ],
)
def test_bad_tenant_id_is_one_line(db: tuple[str, str], command: tuple[str, ...]) -> None:
    assert_one_line_error(invoke(*db, *command), "invalid tenant id 'bad tenant'")


@pytest.mark.parametrize(
    ("command", "fragment"),
    [
        (("models", "resolve", "-t", "acme", "-a", "nope"), "unknown agent 'nope'"),
        (("models", "costs", "-m", "openai/gpt-nope", "-i", "1", "-o", "1"), "'openai/gpt-nope'"),
        (("models", "registry", "-p", "nope"), "unknown provider 'nope'"),
        (("overrides", "set", "-t", "acme", "-a", "support", "-s", "generation", "-m", "openai:nope"), "'openai:nope'"),
    ],
)
def test_unknown_names_are_one_line(db: tuple[str, str], command: tuple[str, ...], fragment: str) -> None:
    assert_one_line_error(invoke(*db, *command), fragment)


# --- files: config that is not text, database under a plain file --------------------------------


def test_non_utf8_config_file_is_one_line_naming_it(tmp_path: Path, config_dir: Path) -> None:
    binary = tmp_path / "binary.yaml"
    binary.write_bytes(b"\xff\xfe\x00not text")
    report = invoke("models", "validate", str(binary))  # validate lists each problem, then a summary
    assert report.exit_code == 1
    assert "Traceback" not in report.output
    assert f"{binary}: not UTF-8 text (byte 0xff at position 0)" in report.output
    copy = tmp_path / "configs"
    copy.mkdir()
    (copy / "models.yaml").write_bytes(b"\xff\xfe\x00")
    assert_one_line_error(invoke("--config-dir", str(copy), "models", "registry"), str(copy / "models.yaml"))


def test_database_under_a_plain_file_is_one_line(tmp_path: Path) -> None:
    blocker = tmp_path / "plain-file"
    blocker.write_text("")
    url = f"sqlite:///{blocker / 'focal.db'}"
    assert_one_line_error(invoke("--database-url", url, "db", "upgrade"), str(blocker))


# --- handle_errors itself ----------------------------------------------------------------------


def _app_raising(exc: BaseException) -> typer.Typer:
    tiny = typer.Typer()

    @tiny.command()
    @handle_errors
    def boom() -> None:
        raise exc

    return tiny


@pytest.mark.parametrize(
    ("exc", "fragment"),
    [
        (OverflowError("date value out of range"), "OverflowError: date value out of range"),
        (ValueError("bad\nsecond line"), "ValueError: bad"),
        (ArithmeticError(), "ArithmeticError"),
        (PermissionError(13, "Permission denied", "/some/file"), "cannot access /some/file: Permission denied"),
    ],
)
def test_stray_value_errors_become_one_line(exc: BaseException, fragment: str) -> None:
    assert_one_line_error(runner.invoke(_app_raising(exc), []), fragment)


def test_debug_log_level_keeps_the_traceback_of_stray_errors() -> None:
    result = runner.invoke(_app_raising(OverflowError("x")), [], env={"FOCAL_LOG_LEVEL": "debug"})
    assert isinstance(result.exception, OverflowError)


def test_real_bugs_are_not_hidden() -> None:
    result = runner.invoke(_app_raising(TypeError("a bug")), [])
    assert isinstance(result.exception, TypeError)


# --- the installed console script, end to end --------------------------------------------------


def test_console_script_prints_no_traceback(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOCAL_")}
    env["FOCAL_DATABASE_URL"] = f"sqlite:///{tmp_path / 'focal.db'}"
    cli = [sys.executable, "-m", "focal"]
    assert subprocess.run([*cli, "db", "upgrade"], env=env, capture_output=True, timeout=120).returncode == 0
    for args, fragment in (
        (["telemetry", "calls", "--since", "99999999d"], "--since '99999999d'"),
        (["telemetry", "retention", "--days", "100000000"], "--days 100000000"),
        (["budgets", "set", "-t", "acme", "-p", "day", "-l", "NaN"], "'NaN'"),
        (["budgets", "set", "-t", "acme", "-p", "day", "-l", "1e30"], "'1e30'"),
    ):
        done = subprocess.run([*cli, *args], env=env, capture_output=True, text=True, timeout=120)
        assert done.returncode == 1 and "Traceback" not in done.stderr + done.stdout
        assert done.stderr.startswith("error: ") and len(done.stderr.strip().splitlines()) == 1
        assert fragment in done.stderr
