"""Fakes for tests and host applications: an Agno fake model, a factory, a scripted executor.

`FakeModel` is a real Agno `Model` (the agent loop, metrics and structured output all run), so
`AgnoExecutor(registry, model_factory=FakeModels(...).factory)` exercises everything but HTTP.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any
from uuid import uuid4

from agno.metrics import MessageMetrics
from agno.models.base import Model
from agno.models.response import ModelResponse

from focal.execution._call_agents import AgentTemplate
from focal.execution.types import ExecutionContext, LLMResponse, StreamChunk, TokenUsage
from focal.providers import CallParams, ObservingMixin
from focal.routing import ModelInfo, ModelRegistry

__all__ = ["FakeModel", "FakeModels", "ScriptedExecutor"]

Reply = str | dict[str, Any] | BaseException | Callable[..., Any]


@dataclass
class _ScriptedModel(Model):
    """An Agno model that answers from a script.

    Each item of `replies` is used once, in order: a string (the answer), `{"tool": name, "args": {...}}`
    (a tool call), an exception (raised, as a provider error would be), or a callable
    `(messages) -> str` . With the script empty, `default` answers (a string or such a callable;
    `"echo: <last message>"` if None).
    """

    id: str = "fake-model"
    name: str = "FakeModel"
    provider: str = "Fake"
    replies: deque[Any] = field(default_factory=deque)
    default: str | Callable[[Any], str] | None = None
    usage: tuple[int, int] = (10, 5)
    delay: float = 0.0
    stream_chunks: int = 3
    calls: int = 0

    def _next(self, messages: Any) -> ModelResponse:
        self.calls += 1
        reply: Any = self.replies.popleft() if self.replies else self.default
        if isinstance(reply, BaseException):
            raise reply
        if callable(reply):
            reply = reply(messages)
        if reply is None:
            reply = f"echo: {messages[-1].content}"
        metrics = MessageMetrics(input_tokens=self.usage[0], output_tokens=self.usage[1], total_tokens=sum(self.usage))
        if isinstance(reply, dict) and "tool" in reply:
            return ModelResponse(
                role="assistant",
                response_usage=metrics,
                tool_calls=[
                    {
                        "id": f"call_{uuid4().hex[:8]}",
                        "type": "function",
                        "function": {"name": reply["tool"], "arguments": json.dumps(reply.get("args", {}))},
                    }
                ],
            )
        return ModelResponse(role="assistant", content=str(reply), response_usage=metrics)

    def invoke(self, messages: Any = None, **_: Any) -> ModelResponse:
        return self._next(messages)

    async def ainvoke(self, messages: Any = None, **_: Any) -> ModelResponse:
        if self.delay:
            await asyncio.sleep(self.delay)
        return self._next(messages)

    def invoke_stream(self, messages: Any = None, **_: Any):  # type: ignore[no-untyped-def]
        yield self._next(messages)

    async def ainvoke_stream(self, messages: Any = None, **_: Any):  # type: ignore[no-untyped-def]
        if self.delay:
            await asyncio.sleep(self.delay)
        response = self._next(messages)
        text = response.content or ""
        if not text or self.stream_chunks <= 1:
            yield response
            return
        size = max(1, len(text) // self.stream_chunks)
        pieces = [text[i : i + size] for i in range(0, len(text), size)]
        for i, piece in enumerate(pieces):
            last = i == len(pieces) - 1
            yield ModelResponse(
                role="assistant", content=piece, response_usage=response.response_usage if last else None
            )

    def _parse_provider_response(self, response: Any, **_: Any) -> Any:
        return response

    def _parse_provider_response_delta(self, response: Any) -> Any:
        return response


@dataclass
class FakeModel(ObservingMixin, _ScriptedModel):
    """`_ScriptedModel` observed like every Focal-built model (errors reach the executor typed)."""


class FakeModels:
    """A model factory for `AgnoExecutor` that builds `FakeModel`s and scripts them per model ref.

    >>> fakes = FakeModels(default="hi")
    >>> fakes.script("openai/gpt-4o-mini", ProviderUnavailable("down"), "recovered")
    >>> executor = AgnoExecutor(registry, model_factory=fakes.factory)
    """

    def __init__(
        self, *, default: str | Callable[[Any], str] | None = None, usage: tuple[int, int] = (10, 5), delay: float = 0.0
    ) -> None:
        self.default = default
        self.usage = usage
        self.delay = delay
        self.scripts: dict[str, deque[Any]] = defaultdict(deque)
        self.models: dict[str, FakeModel] = {}

    def script(self, model_ref: str, *replies: Reply) -> None:
        """Queue replies for a model (canonical `provider/model-id`)."""
        self.scripts[model_ref].extend(replies)

    def calls(self, model_ref: str) -> int:
        """How many model invocations a model received."""
        model = self.models.get(model_ref)
        return model.calls if model else 0

    def factory(self, model: ModelInfo, registry: ModelRegistry, params: CallParams) -> FakeModel:
        """The `ModelFactory`: one FakeModel per model ref, sharing that ref's script."""
        built = self.models.get(model.ref)
        if built is None:
            built = FakeModel(
                id=model.id,
                provider=model.provider,
                replies=self.scripts[model.ref],
                default=self.default,
                usage=self.usage,
                delay=self.delay,
            )
            self.models[model.ref] = built
        return built


class ScriptedExecutor:
    """An `LLMExecutor` that returns queued answers (or raises queued exceptions); records every call.

    A call takes the next answer scripted for its step (`script(step_name, ...)`), else the next of
    `replies` (in call order), else `"ok"`.
    """

    def __init__(self, *replies: str | BaseException, model_id: str = "scripted", provider: str = "fake") -> None:
        self.replies: deque[str | BaseException] = deque(replies)
        self.by_step: dict[str, deque[str | BaseException]] = defaultdict(deque)
        self.calls: list[tuple[Any, ExecutionContext]] = []
        self.model_id = model_id
        self.provider = provider

    def script(self, step_name: str, *replies: str | BaseException) -> None:
        """Queue answers for the calls of one step (whatever the order of the steps' calls)."""
        self.by_step[step_name].extend(replies)

    def _next(self, prompt: Any, ctx: ExecutionContext) -> LLMResponse:
        self.calls.append((prompt, ctx))
        queue = self.by_step.get(ctx.step_name) or self.replies
        reply = queue.popleft() if queue else "ok"
        if isinstance(reply, BaseException):
            raise reply
        from decimal import Decimal

        return LLMResponse(
            content=reply,
            model_id=self.model_id,
            provider=self.provider,
            tier="cheap",
            usage=TokenUsage(input=1, output=1),
            cost=Decimal(0),
            latency_ms=0.0,
        )

    async def run(self, prompt: Any, ctx: ExecutionContext, **_: Any) -> LLMResponse:
        return self._next(prompt, ctx)

    async def run_structured(
        self, prompt: Any, schema: Any, ctx: ExecutionContext, **_: Any
    ) -> tuple[Any, LLMResponse]:
        response = self._next(prompt, ctx)
        return schema.model_validate_json(response.content), response

    async def run_agent(self, agent: Any, input: Any, ctx: ExecutionContext, **_: Any) -> tuple[Any, LLMResponse]:
        """As `ResilientExecutor.run_agent`: the template is checked, the reply typed by its output schema."""
        schema = AgentTemplate.of(agent).output_schema
        response = self._next(input, ctx)
        return (schema.model_validate_json(response.content) if schema else response.content), response

    async def stream(self, prompt: Any, ctx: ExecutionContext, **_: Any) -> AsyncIterator[StreamChunk]:
        response = self._next(prompt, ctx)
        yield StreamChunk(delta=response.content)
        yield StreamChunk(done=True, response=response)
