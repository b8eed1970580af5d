"""Capture structlog events in tests, whatever logging an earlier test configured.

`structlog.testing.capture_logs` alone misses events when Focal's logging was configured at a higher
level (the filtering wrapper drops them) or when a module's logger was cached on first use.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from types import ModuleType
from typing import Any
from unittest import mock

import structlog
from structlog.testing import capture_logs

from focal.logging._setup import _merge_bound


@contextmanager
def captured_logs(*modules: ModuleType) -> Iterator[list[dict[str, Any]]]:
    """Every event (debug and up) logged through the `log` of each of `modules` within the block."""
    saved = structlog.get_config()
    structlog.configure(
        wrapper_class=structlog.make_filtering_bound_logger(logging.DEBUG), cache_logger_on_first_use=False
    )
    try:
        with ExitStack() as stack:
            events = stack.enter_context(capture_logs(processors=[_merge_bound]))  # + Focal's bound context
            for module in modules:
                stack.enter_context(mock.patch.object(module, "log", structlog.get_logger(module.__name__)))
            yield events
    finally:
        structlog.configure(**saved)
