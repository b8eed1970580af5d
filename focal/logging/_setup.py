"""structlog, configured once; tenant / agent / session / step travel in contextvars."""

from __future__ import annotations

import logging
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import structlog

_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}
_configured: tuple[str, str] | None = None

CONTEXT_KEYS = ("tenant_id", "agent_id", "session_id", "step")


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
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            structlog.processors.StackInfoRenderer(),
            structlog.processors.format_exc_info,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(_LEVELS[level]),
        logger_factory=structlog.PrintLoggerFactory(file=sys.stderr),
        cache_logger_on_first_use=False,
    )
    _configured = (log_format, level)


def get_logger(name: str | None = None) -> Any:
    """A structlog logger; context bound with `bind_context` is merged into every event."""
    return structlog.get_logger(name) if name else structlog.get_logger()


@contextmanager
def bind_context(**values: Any) -> Iterator[None]:
    """Bind tenant_id / agent_id / session_id / step (or any key) for the `with` block (task-local)."""
    clean = {k: v for k, v in values.items() if v is not None}
    with structlog.contextvars.bound_contextvars(**clean):
        yield


def current_context() -> dict[str, Any]:
    """The values bound right now."""
    return dict(structlog.contextvars.get_contextvars())
