"""Structured logging with tenant / agent / session / step bound through contextvars.

Focal never configures logging on import or when a `Focal` is built: its loggers follow the host's
structlog configuration, or stdlib `logging` when structlog is unconfigured. `configure_logging` sets
up structlog for the process (the `focal` CLI does; hosts may opt in).
"""

from focal.logging._setup import (
    CONTEXT_KEYS,
    FocalLogger,
    bind_context,
    configure_logging,
    current_context,
    get_logger,
)

__all__ = ["CONTEXT_KEYS", "FocalLogger", "bind_context", "configure_logging", "current_context", "get_logger"]
