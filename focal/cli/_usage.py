"""Usage errors (a bad option, value or argument) on one line, exit code 2, no Rich box."""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup

try:  # typer 0.2x vendors click as `typer._click`; its commands raise these exceptions
    from typer._click import exceptions as click_exceptions
    from typer._click.utils import echo
except ImportError:  # older typer runs on click itself
    from click import exceptions as click_exceptions  # type: ignore[no-redef]
    from click.utils import echo  # type: ignore[no-redef]

from focal.cli._common import err_console

USAGE_EXIT_CODE = 2


def _is_option(param: Any) -> bool:
    return getattr(param, "param_type_name", None) == "option"


def _option_name(param: Any) -> str:
    """`--limit` for an option (its long name), `FILE` for an argument."""
    if _is_option(param):
        longs = [o for o in param.opts if o.startswith("--")]
        return (longs or param.opts)[0]
    return getattr(param, "metavar", None) or (param.name or "argument").upper()


def _given_value(args: Sequence[str], param: Any) -> str | None:
    """The value given on the command line for an option (the last one), if it can be found."""
    if not _is_option(param):
        return None
    found: str | None = None
    for i, arg in enumerate(args):
        for opt in param.opts:
            if arg == opt and i + 1 < len(args):
                found = args[i + 1]
            elif opt.startswith("--") and arg.startswith(opt + "="):
                found = arg[len(opt) + 1 :]
    return found


def _lower_first(text: str) -> str:
    return text[:1].lower() + text[1:] if text[:1].isupper() and not text[1:2].isupper() else text


def _one_line(text: str) -> str:
    text = " ".join(part.strip() for part in text.strip().splitlines() if part.strip()).rstrip(".")
    return text.removeprefix("Value error, ")  # pydantic's prefix on typer's own checks


def _command_path(root: Any, prog_name: str, args: Sequence[str]) -> str:
    """`focal models tasks` from the command line, for errors raised without a context."""
    names, command = [prog_name], root
    for arg in args:
        sub = getattr(command, "commands", {}).get(arg) if not arg.startswith("-") else None
        if sub is not None:
            names.append(arg)
            command = sub
    return " ".join(names)


def usage_message(exc: Any, args: Sequence[str], fallback_path: str = "focal") -> str:
    """`--limit 'abc': input should be a valid integer (see focal telemetry calls --help)`."""
    if isinstance(exc, click_exceptions.MissingParameter) and exc.param is not None:
        kind = exc.param_type or exc.param.param_type_name
        text = f"missing {kind} {_option_name(exc.param)}"
    elif isinstance(exc, click_exceptions.BadParameter) and exc.param is not None:
        name, value, message = _option_name(exc.param), _given_value(args, exc.param), _one_line(exc.message)
        where = f"{name} {value!r}" if value is not None and repr(value) not in message else name
        text = f"{where}: {_lower_first(message)}"
    elif isinstance(exc, click_exceptions.NoSuchOption):
        text = f"no such option {exc.option_name}"
        if exc.possibilities:
            text += f" (did you mean {', '.join(sorted(exc.possibilities))}?)"
    else:
        text = _lower_first(_one_line(exc.format_message()))
    command = exc.ctx.command_path if exc.ctx is not None else fallback_path
    return f"{text} (see {command} --help)"


def _exit(code: int) -> NoReturn:
    sys.exit(code)


class FocalGroup(TyperGroup):
    """The root group: click's usage errors become `error: ...` on one line with exit code 2.

    Everything else is click's and typer's own behaviour: `--help` prints help and exits 0, a
    `typer.Exit(code)` exits with its code, Ctrl-C inside a command is `error: interrupted` (exit 1), no
    arguments prints the help.
    """

    def main(  # type: ignore[override]
        self,
        args: Sequence[str] | None = None,
        prog_name: str | None = None,
        complete_var: str | None = None,
        standalone_mode: bool = True,
        windows_expand_args: bool = True,
        **extra: Any,
    ) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, windows_expand_args, **extra)
        argv = list(sys.argv[1:] if args is None else args)
        try:
            rv = super().main(argv, prog_name, complete_var, False, windows_expand_args, **extra)
        except click_exceptions.UsageError as exc:
            if type(exc).__name__ == "NoArgsIsHelpError":  # `focal` / `focal models` alone: the help
                if exc.format_message().strip():  # with Rich, typer has printed it already
                    echo(exc.format_message(), err=True)
                _exit(USAGE_EXIT_CODE)
            path = _command_path(self, prog_name or self.name or "focal", argv)
            err_console.print(f"error: {usage_message(exc, argv, path)}", markup=False)
            _exit(USAGE_EXIT_CODE)
        except click_exceptions.ClickException as exc:
            err_console.print(f"error: {_one_line(exc.format_message())}", markup=False)
            _exit(exc.exit_code)
        except typer.Abort:
            err_console.print("error: aborted", markup=False)
            _exit(1)
        # Non-standalone click returns the exit code of a `typer.Exit` / `ctx.exit()` (`--help`: 0),
        # else the command's return value (None for every Focal command).
        _exit(rv if isinstance(rv, int) else 0)
