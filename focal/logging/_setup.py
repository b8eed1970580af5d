"""Focal's loggers; tenant / agent / session / step travel in contextvars.

Importing Focal or building a `Focal` never configures logging: Focal's loggers follow whatever the
host set up (structlog, or stdlib `logging` when structlog is left unconfigured). `configure_logging`
is for Focal's own entry points (the `focal` CLI) and hosts that opt in.
"""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import MutableMapping
from contextvars import ContextVar, Token
from typing import Any

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_configured: tuple[str, str] | None = None

CONTEXT_KEYS = ("tenant_id", "agent_id", "session_id", "step")


_bound: ContextVar[dict[str, Any]] = ContextVar("focal_log_context", default={})  # noqa: B039 - never mutated


def _merge_bound(_: Any, __: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    # Focal's bindings win over a host's `structlog.contextvars` (request middleware binding its own
    # tenant_id): the call's tenant is the one its lines must carry
    event_dict.update(_bound.get())
    return event_dict


class _StderrLogger:
    """Writes each event to whatever `sys.stderr` is *now* (loggers are cached; stderr may be swapped)."""

    def msg(self, message: str) -> None:
        # stderr closed (interpreter shutdown, test capture): drop the line
        with contextlib.suppress(ValueError, OSError):
            print(message, file=sys.stderr, flush=True)

    log = debug = info = warn = warning = error = critical = exception = fatal = msg


def _stderr_logger(*_: Any) -> _StderrLogger:
    return _StderrLogger()


def configure_logging(log_format: str = "console", level: str = "info", *, force: bool = False) -> None:
    """Configure structlog for the whole process (idempotent; `force=True` reconfigures).

    Called by the `focal` CLI, and by `Focal.open(..., configure_logging=True)` for hosts that leave
    logging to Focal; a library host that configures logging itself never needs it.

    Args:
        log_format: `console` (human) or `json` (one object per line).
        level: debug, info, warning or error.
    """
    global _configured
    if _configured == (log_format, level) and not force:
        return
    if log_format not in ("console", "json"):
        raise ValueError(f"log_format must be 'console' or 'json', not {log_format!r}")
    renderer: Any = (
        structlog.processors.JSONRenderer() if log_format == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            _merge_bound,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=_stderr_logger,
        cache_logger_on_first_use=True,
    )
    _configured = (log_format, level)


_KEY_VALUES = structlog.processors.LogfmtRenderer(bool_as_flag=False)


def _to_stdlib_call(
    logger: Any, method: str, event_dict: MutableMapping[str, Any]
) -> tuple[tuple[str], dict[str, Any]]:
    """`telemetry_replayed records=3 tenant_id=acme`: one line for the stdlib logger, whose handler adds
    time and level; `exc_info` / `stack_info` are handed to it as they are."""
    passed: dict[str, Any] = {key: event_dict.pop(key) for key in ("exc_info", "stack_info") if key in event_dict}
    event = str(event_dict.pop("event", ""))
    rest = _KEY_VALUES(logger, method, event_dict) if event_dict else ""
    return (f"{event} {rest}" if rest else event,), passed


_STDLIB_PROCESSORS: list[Any] = [
    structlog.stdlib.filter_by_level,  # below the stdlib logger's level: dropped before rendering
    _to_stdlib_call,
]


class FocalLogger:
    """Focal's logger: the context bound with `bind_context` is on every event, however logging is set up.

    structlog configured (by the host, or by `configure_logging`): events go through its pipeline.
    structlog not configured: they go to the stdlib logger of the same name as one `event key=value`
    line, so the host's `logging` setup decides (with none, Python prints warnings and errors to stderr).
    """

    __slots__ = ("_name", "_stdlib", "_structlog", "_to_stdlib")

    def __init__(self, name: str) -> None:
        self._name = name
        self._stdlib = logging.getLogger(name)
        self._structlog: Any = structlog.get_logger(name)
        self._to_stdlib: Any = structlog.wrap_logger(
            self._stdlib,
            processors=_STDLIB_PROCESSORS,
            wrapper_class=structlog.stdlib.BoundLogger,
            cache_logger_on_first_use=True,
        )

    @property
    def name(self) -> str:
        return self._name

    def _log(self, method: str, event: str, values: dict[str, Any]) -> None:
        target = self._structlog if structlog.is_configured() else self._to_stdlib
        # Focal's bindings win over the call's own keys and a host's `structlog.contextvars`
        getattr(target, method)(event, **{**values, **_bound.get()})

    def debug(self, event: str, **values: Any) -> None:
        self._log("debug", event, values)

    def info(self, event: str, **values: Any) -> None:
        self._log("info", event, values)

    def warning(self, event: str, **values: Any) -> None:
        self._log("warning", event, values)

    def error(self, event: str, **values: Any) -> None:
        self._log("error", event, values)

    def exception(self, event: str, **values: Any) -> None:
        """An error with the exception being handled."""
        self._log("exception", event, values)

    def critical(self, event: str, **values: Any) -> None:
        self._log("critical", event, values)

    def is_enabled_for(self, level: int) -> bool:
        """False when an event at `level` (`logging.INFO`...) would be dropped: skip building costly values."""
        if not structlog.is_configured():
            return self._stdlib.isEnabledFor(level)
        bound = self._structlog.bind()
        check = getattr(bound, "is_enabled_for", None) or getattr(bound, "isEnabledFor", None)
        return bool(check(level)) if callable(check) else True


def get_logger(name: str | None = None) -> FocalLogger:
    """Focal's logger `name` (default `focal`); context bound with `bind_context` is on every event."""
    return FocalLogger(name or "focal")


class bind_context:
    """Bind tenant_id / agent_id / session_id / step (or any key) for the `with` block (task-local).

    A key given as None is unbound for the block. Cheap on the hot path: one ContextVar set and
    reset, merged into the events of Focal's loggers (and, once `configure_logging` ran, of every
    structlog logger).
    """

    __slots__ = ("_token", "_values")

    def __init__(self, **values: Any) -> None:
        self._values = values
        self._token: Token[dict[str, Any]] | None = None

    def __enter__(self) -> None:
        # a key given as None is unbound: a call without a session never inherits an outer one
        merged = {k: v for k, v in {**_bound.get(), **self._values}.items() if v is not None}
        self._token = _bound.set(merged)

    def __exit__(self, *exc: object) -> None:
        if self._token is not None:
            # an abandoned async generator may be closed from another context: then there is nothing to undo
            with contextlib.suppress(ValueError):
                _bound.reset(self._token)


def current_context() -> dict[str, Any]:
    """The values bound right now."""
    return {**structlog.contextvars.get_contextvars(), **_bound.get()}
