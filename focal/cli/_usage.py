"""Usage errors (a bad option, value or argument) on one line, exit code 2, no Rich box.

Public typer API only: `typer.TyperException` (the base of every error typer's parser raises),
`typer.BadParameter`, `typer.Abort`, `typer.Exit` and `typer.core.TyperGroup`; the few details typer
does not export are read in `focal.cli._typer_errors`.
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any, NoReturn

import typer
from typer.core import TyperGroup, TyperOption

from focal.cli._common import err_console
from focal.cli._typer_errors import error_command_path, missing_parameter_kind, unknown_option

USAGE_EXIT_CODE = 2


def _is_option(param: Any) -> bool:
    return isinstance(param, TyperOption)


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


def usage_message(exc: typer.TyperException, args: Sequence[str], fallback_path: str = "focal") -> str:
    """`--limit 'abc': input should be a valid integer (see focal telemetry calls --help)`."""
    missing = missing_parameter_kind(exc) if isinstance(exc, typer.BadParameter) else None
    unknown = unknown_option(exc)
    if isinstance(exc, typer.BadParameter) and exc.param is not None and missing is not None:
        text = f"missing {missing} {_option_name(exc.param)}"
    elif isinstance(exc, typer.BadParameter) and exc.param is not None:
        name, value, message = _option_name(exc.param), _given_value(args, exc.param), _one_line(exc.message)
        where = f"{name} {value!r}" if value is not None and repr(value) not in message else name
        text = f"{where}: {_lower_first(message)}"
    elif unknown is not None:
        option, possibilities = unknown
        text = f"no such option {option}"
        if possibilities:
            text += f" (did you mean {', '.join(sorted(possibilities))}?)"
    else:
        text = _lower_first(_one_line(exc.format_message()))
    return f"{text} (see {error_command_path(exc) or fallback_path} --help)"


def _exit(code: int) -> NoReturn:
    sys.exit(code)


class FocalGroup(TyperGroup):
    """Focal's command groups: usage errors become `error: ...` on one line with exit code 2.

    Everything else is typer's own behaviour: `--help` prints help and exits 0, a `typer.Exit(code)`
    exits with its code, Ctrl-C inside a command is `error: interrupted` (exit 1). A group called
    without a command (`focal`, `focal models`) prints its help and exits 2.
    """

    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        if not args and self.no_args_is_help and not ctx.resilient_parsing:
            text = ctx.get_help()  # with Rich, typer prints the help itself and returns ""
            if text.strip():
                typer.echo(text, err=True)
            raise typer.Exit(USAGE_EXIT_CODE)
        result: list[str] = super().parse_args(ctx, args)
        return result

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
        except typer.TyperException as exc:  # typer's parser errors: usage errors carry exit code 2
            if exc.exit_code == USAGE_EXIT_CODE:
                path = _command_path(self, prog_name or self.name or "focal", argv)
                err_console.print(f"error: {usage_message(exc, argv, path)}", markup=False)
            else:
                err_console.print(f"error: {_one_line(exc.format_message())}", markup=False)
            _exit(exc.exit_code)
        except typer.Abort:
            err_console.print("error: aborted", markup=False)
            _exit(1)
        # Non-standalone typer returns the exit code of a `typer.Exit` / `ctx.exit()` (`--help`: 0, a
        # group without a command: 2), else the command's return value (None for every Focal command).
        _exit(rv if isinstance(rv, int) else 0)
