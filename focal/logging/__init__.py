"""Structured logging (structlog) with tenant / agent / session / step bound through contextvars."""

from focal.logging._setup import CONTEXT_KEYS, bind_context, configure_logging, current_context, get_logger

__all__ = ["CONTEXT_KEYS", "bind_context", "configure_logging", "current_context", "get_logger"]
