"""The `LLMExecutor` protocol, and a blocking wrapper for scripts."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol, TypeVar, runtime_checkable

from pydantic import BaseModel

from focal.execution.types import ExecutionContext, LLMResponse, Message, StreamChunk

__all__ = ["LLMExecutor", "SyncExecutor"]

S = TypeVar("S", bound=BaseModel)
Prompt = str | Message | Sequence[Message | dict[str, Any]]


@runtime_checkable
class LLMExecutor(Protocol):
    """What every executor offers: a call, a structured call, and a stream."""

    async def run(self, prompt: Prompt, ctx: ExecutionContext, **kwargs: Any) -> LLMResponse:
        """Run a call to completion."""
        ...

    async def run_structured(
        self, prompt: Prompt, schema: type[S], ctx: ExecutionContext, **kwargs: Any
    ) -> tuple[S, LLMResponse]:
        """Run a call whose answer validates against `schema`."""
        ...

    def stream(self, prompt: Prompt, ctx: ExecutionContext, **kwargs: Any) -> AsyncIterator[StreamChunk]:
        """Stream a call; the last chunk has `done=True` and carries the final response."""
        ...


class SyncExecutor:
    """Blocking calls for scripts and notebooks without an event loop (one private loop)."""

    def __init__(self, executor: LLMExecutor) -> None:
        self._executor = executor
        self._runner = asyncio.Runner()

    def run(self, prompt: Prompt, ctx: ExecutionContext, **kwargs: Any) -> LLMResponse:
        """Blocking `run`."""
        return self._runner.run(self._executor.run(prompt, ctx, **kwargs))

    def run_structured(
        self, prompt: Prompt, schema: type[S], ctx: ExecutionContext, **kwargs: Any
    ) -> tuple[S, LLMResponse]:
        """Blocking `run_structured`."""
        return self._runner.run(self._executor.run_structured(prompt, schema, ctx, **kwargs))

    def stream_text(self, prompt: Prompt, ctx: ExecutionContext, **kwargs: Any) -> tuple[list[str], LLMResponse]:
        """Run a stream to its end; returns the deltas and the final response."""

        async def collect() -> tuple[list[str], LLMResponse]:
            deltas: list[str] = []
            final: LLMResponse | None = None
            async for chunk in self._executor.stream(prompt, ctx, **kwargs):
                if chunk.done:
                    final = chunk.response
                else:
                    deltas.append(chunk.delta)
            assert final is not None
            return deltas, final

        return self._runner.run(collect())

    def close(self) -> None:
        """Close the private event loop."""
        self._runner.close()

    def __enter__(self) -> SyncExecutor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
