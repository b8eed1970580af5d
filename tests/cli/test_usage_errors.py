"""Usage errors (bad options, values, arguments, commands): one `error: ...` line, exit code 2, no
Rich usage box; `--help`, no-command help and `typer.Exit` codes keep their behaviour. Also
`focal demo --json`, and `--json` on every command."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main
from typer.testing import CliRunner

from focal.cli import app

runner = CliRunner()

BOX = ("╭", "╰", "│", "─")


def invoke(*args: str):  # type: ignore[no-untyped-def]
    return runner.invoke(app, list(args))


def assert_usage_error(result, *fragments: str, command: str) -> str:  # type: ignore[no-untyped-def]
    output = result.stdout + result.stderr
    assert result.exit_code == 2, output
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in output and "Usage:" not in output
    assert not any(ch in output for ch in BOX), output
    assert result.stdout == ""
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    line = lines[0]
    assert line.startswith("error: "), line
    assert line.endswith(f"(see {command} --help)"), line
    for fragment in fragments:
        assert fragment in line, line
    return line


@pytest.mark.parametrize(
    ("args", "fragments", "command"),
    [
        (
            ["telemetry", "calls", "--limit", "abc"],
            ["--limit 'abc':", "valid integer"],
            "focal telemetry calls",
        ),
        (["telemetry", "calls", "--limit=abc"], ["--limit 'abc':", "valid integer"], "focal telemetry calls"),
        (["telemetry", "runs", "-n", "0"], ["--limit '0':", "greater than or equal to 1"], "focal telemetry runs"),
        (["telemetry", "calls", "--bogus"], ["no such option --bogus"], "focal telemetry calls"),
        (
            ["telemetry", "calls", "--lmit", "3"],
            ["no such option --lmit", "did you mean --limit?"],
            "focal telemetry calls",
        ),
        (["telemetry", "retention", "--tenant", "acme"], ["no such option --tenant"], "focal telemetry retention"),
        (["models", "resolve", "--agent", "support"], ["missing option --tenant"], "focal models resolve"),
        (["telemetry", "export"], ["missing argument FILE"], "focal telemetry export"),
        (
            ["budgets", "set", "-t", "acme", "-p", "week", "-l", "1"],
            ["--period", "'week' is not one of"],
            "focal budgets set",
        ),
        (["models", "tasks", "--tier", "huge"], ["--tier", "'huge' is not one of"], "focal models tasks"),
        (["models", "tasks", "--tier"], ["'--tier' requires an argument"], "focal models tasks"),
        (["--database-url"], ["'--database-url' requires an argument"], "focal"),
        (["nosuch"], ["no such command 'nosuch'"], "focal"),
        (["models", "nosuch"], ["no such command 'nosuch'"], "focal models"),
        (["telemetry", "calls", "extra"], ["unexpected extra argument", "extra"], "focal telemetry calls"),
        (["demo", "--jsn"], ["no such option --jsn", "did you mean --json?"], "focal demo"),
    ],
)
def test_usage_errors_are_one_line_with_exit_code_2(args: list[str], fragments: list[str], command: str) -> None:
    assert_usage_error(invoke(*args), *fragments, command=command)


def test_help_still_exits_0() -> None:
    for args in (["--help"], ["telemetry", "--help"], ["telemetry", "calls", "--help"]):
        result = invoke(*args)
        assert result.exit_code == 0, result.stderr
        assert "Usage:" in result.stdout and result.stderr == ""


@pytest.mark.parametrize("args", [[], ["models"], ["telemetry"]])
def test_no_command_prints_the_help_with_exit_code_2(args: list[str]) -> None:
    result = invoke(*args)
    assert result.exit_code == 2
    assert "Usage:" in result.stdout + result.stderr
    assert "error:" not in result.stdout + result.stderr


def test_typer_exit_codes_pass_through(tmp_path: Path) -> None:
    (tmp_path / "models.yaml").write_text("providers: {x: 1}\n")
    result = invoke("models", "validate", str(tmp_path / "models.yaml"))  # raises typer.Exit(1)
    assert result.exit_code == 1 and "problem(s)" in result.stdout
    assert invoke("models", "tasks", "--json").exit_code == 0


def test_handled_errors_keep_exit_code_1() -> None:
    result = invoke("models", "registry", "--provider", "azure")
    assert result.exit_code == 1
    assert result.stderr.strip().splitlines() == [result.stderr.strip()]
    assert result.stderr.startswith("error: unknown provider")


def test_embedding_without_standalone_mode_gets_the_exception() -> None:
    command = typer.main.get_command(app)
    with pytest.raises(Exception, match="No such option") as info:
        command.main(["demo", "--bogus"], standalone_mode=False)
    assert type(info.value).__name__ == "NoSuchOption"
    assert command.main(["models", "tasks", "--json"], standalone_mode=False) is None


def test_console_script_usage_error_is_one_line(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOCAL_")}
    env["FOCAL_DATABASE_URL"] = f"sqlite:///{tmp_path / 'focal.db'}"
    env["COLUMNS"] = "60"  # a narrow terminal must not wrap the line either
    for args, fragment in (
        (["telemetry", "calls", "--limit", "abc"], "error: --limit 'abc': "),
        (["demo", "--no-such-flag"], "error: no such option --no-such-flag"),
        (["telemetry", "retention", "--since", "7d"], "error: no such option --since"),
    ):
        done = subprocess.run(
            [sys.executable, "-m", "focal", *args], env=env, capture_output=True, text=True, timeout=120
        )
        assert done.returncode == 2, done.stderr
        assert done.stdout == ""
        assert len(done.stderr.strip().splitlines()) == 1, done.stderr
        assert done.stderr.startswith(fragment)
        assert not any(ch in done.stderr for ch in BOX)


# --- `--json` everywhere ----------------------------------------------------------------------


def _leaf_commands(command, path):  # type: ignore[no-untyped-def]
    subs = getattr(command, "commands", None)
    if not subs:
        yield " ".join(path), command
        return
    for name, sub in subs.items():
        yield from _leaf_commands(sub, [*path, name])


def test_every_command_but_the_interactive_chat_accepts_json() -> None:
    leaves = dict(_leaf_commands(typer.main.get_command(app), ["focal"]))
    assert "focal demo" in leaves and "focal budgets reclaim" in leaves and "focal db status" in leaves
    without = [name for name, cmd in leaves.items() if "--json" not in {o for p in cmd.params for o in p.opts}]
    assert without == ["focal chat"]


def test_only_retention_lacks_tenant_and_since_among_telemetry_commands() -> None:
    leaves = dict(_leaf_commands(typer.main.get_command(app), ["focal"]))
    telemetry = {name: cmd for name, cmd in leaves.items() if name.startswith("focal telemetry ")}
    lacking = sorted(
        name
        for name, cmd in telemetry.items()
        if not {"--tenant", "--since"} <= {o for p in cmd.params for o in p.opts}
    )
    assert lacking == ["focal telemetry retention"]
