"""structlog, configured once; tenant / agent / session / step travel in contextvars."""

from __future__ import annotations

import contextlib
import logging
import sys
from contextvars import ContextVar, Token
from typing import Any

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_configured: tuple[str, str] | None = None

CONTEXT_KEYS = ("tenant_id", "agent_id", "session_id", "step")


_bound: ContextVar[dict[str, Any]] = ContextVar("focal_log_context", default={})  # noqa: B039 - never mutated


def _merge_bound(_: Any, __: str, event_dict: dict[str, Any]) -> dict[str, Any]:
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
    """Configure structlog (idempotent; `force=True` reconfigures).

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


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; context bound with `bind_context` is merged into every event."""
    return structlog.get_logger(name) if name else structlog.get_logger()


class bind_context:
    """Bind tenant_id / agent_id / session_id / step (or any key) for the `with` block (task-local).

    A key given as None is unbound for the block. Cheap on the hot path: one ContextVar set and
    reset, merged into events by a processor.
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
