"""Recover the typed provider exception that `Agent.arun` swallows.

Agno catches provider errors inside `Agent.arun` and returns a `RunOutput(status=ERROR)` with
only the message. Every model Focal builds carries `CaptureErrorsMixin`, which appends the
original exception to the collector installed with `capture_errors()` around the run.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

_collector: ContextVar[list[BaseException] | None] = ContextVar("focal_model_errors", default=None)


@contextmanager
def capture_errors() -> Iterator[list[BaseException]]:
    """Collect exceptions raised by Focal-built models during the `with` block (child tasks included)."""
    bucket: list[BaseException] = []
    token = _collector.set(bucket)
    try:
        yield bucket
    finally:
        _collector.reset(token)


def _record(exc: BaseException) -> None:
    bucket = _collector.get()
    if bucket is not None:
        bucket.append(exc)


class CaptureErrorsMixin:
    """Put before the Agno model class in the bases: records, then re-raises, every invoke error."""

    def invoke(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return super().invoke(*args, **kwargs)  # type: ignore[misc]
        except Exception as exc:
            _record(exc)
            raise

    async def ainvoke(self, *args: Any, **kwargs: Any) -> Any:
        try:
            return await super().ainvoke(*args, **kwargs)  # type: ignore[misc]
        except Exception as exc:
            _record(exc)
            raise

    def invoke_stream(self, *args: Any, **kwargs: Any) -> Iterator[Any]:
        try:
            yield from super().invoke_stream(*args, **kwargs)  # type: ignore[misc]
        except Exception as exc:
            _record(exc)
            raise

    async def ainvoke_stream(self, *args: Any, **kwargs: Any) -> AsyncIterator[Any]:
        try:
            async for item in super().ainvoke_stream(*args, **kwargs):  # type: ignore[misc]
                yield item
        except Exception as exc:
            _record(exc)
            raise
