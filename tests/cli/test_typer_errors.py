"""The details of typer's usage errors Focal reads beyond typer's public API (focal/cli/_typer_errors.py),
checked against the installed typer; and the paths of `FocalGroup` the `focal` commands never reach."""

from __future__ import annotations

from importlib.metadata import version

import pytest
import typer
import typer.main
from typer.testing import CliRunner

from focal.cli import app
from focal.cli._typer_errors import error_command_path, missing_parameter_kind, unknown_option
from focal.cli._usage import FocalGroup

TYPER = f"typer=={version('typer')}"
runner = CliRunner()


def _error(*args: str) -> typer.TyperException:
    with pytest.raises(typer.TyperException) as info:
        typer.main.get_command(app).main(list(args), prog_name="focal", standalone_mode=False)
    assert info.value.exit_code == 2, f"{TYPER}: usage errors no longer carry exit code 2"
    return info.value


def test_a_missing_parameter_is_recognised() -> None:
    missing = _error("models", "resolve", "--agent", "support")
    assert isinstance(missing, typer.BadParameter) and missing_parameter_kind(missing) == "option", (
        f"{TYPER}: MissingParameter.param_type is gone; `missing option --tenant` falls back to typer's wording"
    )
    bad = _error("telemetry", "calls", "--limit", "abc")
    assert isinstance(bad, typer.BadParameter) and missing_parameter_kind(bad) is None


def test_an_unknown_option_is_recognised() -> None:
    assert unknown_option(_error("telemetry", "calls", "--lmit", "3")) == ("--lmit", ("--limit",)), (
        f"{TYPER}: NoSuchOption.option_name / .possibilities are gone; the message falls back to typer's wording"
    )
    assert unknown_option(_error("models", "tasks", "--tier")) is None  # an option without its value


def test_the_command_of_a_usage_error_is_known() -> None:
    assert error_command_path(_error("demo", "--bogus")) == "focal demo", (
        f"{TYPER}: UsageError.ctx is gone; `see ... --help` falls back to the command read from the arguments"
    )


def _mini(**options: object) -> typer.Typer:
    mini = typer.Typer(name="mini", cls=FocalGroup, no_args_is_help=True, add_completion=False, **options)  # type: ignore[arg-type]

    @mini.callback()
    def _root() -> None:
        pass

    @mini.command()
    def abort() -> None:
        raise typer.Abort()

    @mini.command()
    def eof() -> None:
        raise EOFError

    @mini.command()
    def fails() -> None:
        raise typer.TyperException("it broke")

    return mini


@pytest.mark.parametrize("command", ["abort", "eof"])
def test_abort_is_one_line_with_exit_code_1(command: str) -> None:
    result = runner.invoke(_mini(), [command])
    assert result.exit_code == 1 and result.stderr.strip().splitlines()[-1] == "error: aborted"


def test_a_typer_error_that_is_not_a_usage_error_keeps_its_exit_code() -> None:
    result = runner.invoke(_mini(), ["fails"])
    assert result.exit_code == 1 and result.stderr == "error: it broke\n"


@pytest.mark.parametrize("markup", ["rich", None])
def test_no_command_prints_the_help_with_exit_code_2_with_and_without_rich(markup: str | None) -> None:
    result = runner.invoke(_mini(rich_markup_mode=markup), [])
    assert result.exit_code == 2
    assert "Usage:" in result.stdout + result.stderr and "error:" not in result.stdout + result.stderr
