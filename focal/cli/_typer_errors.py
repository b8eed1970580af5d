"""What Focal reads from typer's usage errors beyond typer's public API (one place, checked by a test).

typer exports `TyperException` (the base of every error its parser raises, with `exit_code` and
`format_message()`) and `BadParameter` (`param`, `ctx`), but not the subclasses saying *which* usage
error it is. Three click attributes, read here by name with a fallback, make the message precise:

- `UsageError.ctx`: the command the error belongs to (for `see <command> --help`);
- `MissingParameter.param_type`: its presence marks a missing option or argument;
- `NoSuchOption.option_name` / `.possibilities`: the unknown option and the close matches (`possibilities`
  marks it: `BadOptionUsage` has an `option_name` too).

When typer drops one, the message falls back to typer's own wording: still one line, exit code 2
(tests/cli/test_typer_errors.py names the typer version that changed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import typer

__all__ = ["error_command_path", "missing_parameter_kind", "unknown_option"]


def error_command_path(exc: typer.TyperException) -> str | None:
    """`focal telemetry calls`: the command the usage error belongs to, when typer attached its context."""
    path = getattr(getattr(exc, "ctx", None), "command_path", None)
    return path if isinstance(path, str) else None


def missing_parameter_kind(exc: typer.BadParameter) -> str | None:
    """`option` / `argument` when `exc` says a required parameter was not given, else None."""
    if not hasattr(exc, "param_type"):
        return None
    kind: Any = exc.param_type or getattr(exc.param, "param_type_name", None)
    return str(kind) if kind else "parameter"


def unknown_option(exc: typer.TyperException) -> tuple[str, Sequence[str]] | None:
    """(the option given, the close matches) when `exc` is about an option that does not exist."""
    name = getattr(exc, "option_name", None)
    if not isinstance(name, str) or not hasattr(exc, "possibilities"):  # `BadOptionUsage` has a name only
        return None
    return name, tuple(exc.possibilities or ())
