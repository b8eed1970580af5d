"""What every CLI command shares: settings from global options, error handling, output."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import json
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import Any, TypeVar

import typer
from pydantic import ValidationError
from rich.console import Console
from rich.table import Table
from rich.text import Text
from sqlalchemy.exc import SQLAlchemyError

from focal.errors import ConfigError, FocalError
from focal.logging import configure_logging
from focal.settings import FocalSettings

F = TypeVar("F", bound=Callable[..., Any])
T = TypeVar("T")

# Piped output (scripts, CI, tests) gets a wide console so tables are never cut with "…".
console = Console(highlight=False, width=None if sys.stdout.isatty() else 220)
err_console = Console(stderr=True, highlight=False, soft_wrap=True)

JSON_OPTION = typer.Option(False, "--json", help="Print a JSON list of flat objects instead of a table.")


class State:
    """Global options given before the command (`focal --database-url ... models resolve ...`)."""

    database_url: str | None = None
    config_dir: Path | None = None


STATE = State()


def settings() -> FocalSettings:
    """Settings from the environment, with the global options applied."""
    overrides: dict[str, Any] = {}
    if STATE.database_url:
        overrides["database_url"] = STATE.database_url
    if STATE.config_dir:
        overrides["config_dir"] = STATE.config_dir
    return FocalSettings(**overrides)


def fail(message: str) -> typer.Exit:
    """Print one clear error line and return the exit to raise."""
    err_console.print(f"error: {message}", markup=False)
    return typer.Exit(1)


def _debugging() -> bool:
    """True when FOCAL_LOG_LEVEL=debug: then unexpected errors keep their traceback."""
    try:
        return settings().log_level == "debug"
    except Exception:  # a bad setting is reported on its own; do not mask the original error
        return False


def _drop_record(record: logging.LogRecord) -> bool:
    return False


def quiet_logs_for_conversation() -> None:
    """For commands that hold a conversation on screen (`demo`, `chat`): Agno's own log lines (it prints a
    failed step's traceback to stdout) are dropped, since Focal reports every failure itself, and Focal's
    warnings (a retried call) stay in the telemetry rather than between the turns. `FOCAL_LOG_LEVEL`, when
    set, keeps its level; `debug` keeps Agno's lines too."""
    current = settings()
    if "FOCAL_LOG_LEVEL" not in os.environ:
        configure_logging(current.log_format, "error")
    if current.log_level == "debug" and "FOCAL_LOG_LEVEL" in os.environ:
        return
    for name in ("agno", "agno-team", "agno-workflow"):
        agno_logger = logging.getLogger(name)
        if _drop_record not in agno_logger.filters:
            agno_logger.addFilter(_drop_record)


CONVERSATION_TURN_SECONDS = 300.0
"""A turn's deadline in `demo` and `chat` unless FOCAL_TURN_TIMEOUT_SECONDS is set: a tiny local model on
two cores takes tens of seconds a turn, more with a regeneration."""


def conversation_settings() -> FocalSettings:
    """`settings()` for the commands that hold a conversation: a turn may take `CONVERSATION_TURN_SECONDS`
    unless FOCAL_TURN_TIMEOUT_SECONDS says otherwise."""
    current = settings()
    if "FOCAL_TURN_TIMEOUT_SECONDS" in os.environ:
        return current
    return current.model_copy(update={"turn_timeout_seconds": CONVERSATION_TURN_SECONDS})


INTERRUPT_GRACE_SECONDS = 15.0
"""After Ctrl-C, how long a command has to wind down (close connections, stop the local model) before the
process stops its local model servers and exits anyway."""


async def interruptible(work: Awaitable[T]) -> T:
    """Await `work`; Ctrl-C cancels it (the command's own clean-up runs) and raises `KeyboardInterrupt`.

    A watchdog makes sure the process ends: if it is still alive `INTERRUPT_GRACE_SECONDS` later (a step
    that held on to the cancellation, a thread that never ends), its local model servers are stopped and it
    exits with status 130. No local model server outlives a Ctrl-C.
    """
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None

    def on_sigint() -> None:
        task.cancel()
        threading.Thread(target=_exit_after_grace, name="focal-interrupt-watchdog", daemon=True).start()

    loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        return await work
    except asyncio.CancelledError:
        raise KeyboardInterrupt from None
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _exit_after_grace() -> None:
    time.sleep(INTERRUPT_GRACE_SECONDS)
    from focal.local import stop_all_servers

    err_console.print("error: interrupted (forced exit after the grace period)", markup=False)
    stop_all_servers()
    os._exit(130)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__


def handle_errors(fn: F) -> F:
    """Turn errors into `error: ...` on one line and exit code 1 (no traceback).

    Focal, settings and database errors are expected and printed as they are. An `OSError`
    (a file or directory that cannot be read or written) names the path. A stray
    `ArithmeticError` / `ValueError` (a value out of range that a command did not check) is
    printed as one line with its type, so it stays recognisable as a gap to fix; with
    `FOCAL_LOG_LEVEL=debug` it is re-raised with its traceback. Anything else (`TypeError`,
    `KeyError`, ...) is a bug and keeps its traceback.
    """

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return fn(*args, **kwargs)
        except typer.Exit:
            raise
        except ConfigError as exc:
            if len(exc.problems) > 1:
                err_console.print(f"error: {len(exc.problems)} problems", markup=False)
                for problem in exc.problems:
                    err_console.print(f"  {problem}", markup=False)
                raise typer.Exit(1) from None
            raise fail(str(exc)) from None
        except FocalError as exc:
            raise fail(str(exc)) from None
        except ValidationError as exc:  # settings from the environment
            first = exc.errors()[0]
            where = ".".join(str(p) for p in first["loc"])
            raise fail(f"invalid setting FOCAL_{where.upper()}: {first['msg']}") from None
        except SQLAlchemyError as exc:
            text = str(getattr(exc, "orig", None) or exc).strip().splitlines()[0]
            raise fail(f"database error: {text}") from None
        except KeyboardInterrupt:
            raise fail("interrupted") from None
        except OSError as exc:
            if _debugging():
                raise
            reason = exc.strerror or _first_line(exc)
            if isinstance(exc, FileExistsError) and exc.filename and not Path(exc.filename).is_dir():
                reason = "exists and is not a directory"  # a file where a directory had to be made
            raise fail(f"cannot access {exc.filename}: {reason}" if exc.filename else reason) from None
        except (ArithmeticError, ValueError) as exc:
            if _debugging():
                raise
            raise fail(
                f"invalid value ({type(exc).__name__}: {_first_line(exc)}); FOCAL_LOG_LEVEL=debug shows the traceback"
            ) from None

    return wrapper  # type: ignore[return-value]


def jsonable(value: Any) -> Any:
    """Plain JSON values: enums → value, datetimes → ISO, paths → str, tuples → lists.

    A `Decimal` stays a `Decimal`: `print_json` writes it as a JSON number with its exact digits.
    """
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, dt.datetime | dt.date):
        return value.isoformat()
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dict):
        return {k: jsonable(v) for k, v in value.items()}
    return value


def decimal_number(value: Decimal) -> str:
    """A Decimal as the text of a JSON number, digit for digit (`12345678.987654321`, `1E-9`).

    Raises:
        ValueError: infinity or NaN, which JSON cannot hold.
    """
    if not value.is_finite():
        raise ValueError(f"{value} is not a finite number and cannot be written as JSON")
    return str(value)  # `-1.50`, `0E-7`, `1.2E+3`: all valid JSON numbers


def dumps(value: Any, *, indent: int = 2) -> str:
    """JSON text like `json.dumps(value, indent=indent)`, with Decimals written as exact numbers
    and no `Infinity` / `NaN` (which are not JSON).

    Raises:
        ValueError: a non-finite float or Decimal.
    """
    return _encode(value, indent, 0)


def _encode(value: Any, indent: int, level: int) -> str:
    if isinstance(value, Decimal):
        return decimal_number(value)
    inner, outer = "\n" + " " * (indent * (level + 1)), "\n" + " " * (indent * level)
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = (f"{json.dumps(str(k))}: {_encode(v, indent, level + 1)}" for k, v in value.items())
        return "{" + inner + ("," + inner).join(items) + outer + "}"
    if isinstance(value, list | tuple):
        if not value:
            return "[]"
        return "[" + inner + ("," + inner).join(_encode(v, indent, level + 1) for v in value) + outer + "]"
    return json.dumps(value, allow_nan=False)


def print_json(rows: Iterable[dict[str, Any]]) -> None:
    """A JSON list on stdout (Decimals as exact numbers)."""
    sys.stdout.write(dumps([jsonable(r) for r in rows]) + "\n")


def print_table(title: str, columns: Sequence[str], rows: Iterable[Sequence[Any]]) -> None:
    """A rich table on stdout."""
    table = Table(title=title, title_justify="left")
    for column in columns:
        table.add_column(column, overflow="fold")
    for row in rows:
        table.add_row(*(Text("" if v is None else str(jsonable(v))) for v in row))  # Text: ids are never markup
    console.print(table)


def money(value: Decimal) -> str:
    """USD with enough decimals for per-call costs."""
    return f"${value:,.6f}"
