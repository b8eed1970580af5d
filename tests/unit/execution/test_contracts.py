"""Contracts of a call: messages, contexts, usage, the sync wrapper and the shipped fakes."""

from __future__ import annotations

import time

import pytest
from pydantic import BaseModel

from focal.execution import (
    ConfigurationError,
    ExecutionContext,
    LLMExecutor,
    Message,
    RetryPolicy,
    Role,
    SyncExecutor,
    TokenUsage,
)
from focal.execution.errors import (
    AuthenticationError,
    BadRequestError,
    ContextWindowExceeded,
    ProviderUnavailable,
    RateLimitError,
    StreamInterruptedError,
)
from focal.execution.testing import ScriptedExecutor
from focal.execution.types import to_messages


def test_messages_have_strict_roles() -> None:
    assert to_messages("hi") == (Message(Role.USER, "hi"),)
    msgs = to_messages([{"role": "system", "content": "be brief"}, {"role": "user", "content": "hi"}])
    assert [m.role for m in msgs] == [Role.SYSTEM, Role.USER]
    for bad, fragment in [
        ([{"role": "wizard", "content": "x"}], "role"),
        ("  ", "empty"),
        ([], "no messages"),
        ([{"role": "system", "content": "x"}], "no user message"),
        ([{"role": "user", "text": "x"}], "exactly 'role' and 'content'"),
        ([42], "Message or a dict"),
    ]:
        with pytest.raises(ConfigurationError, match=fragment):
            to_messages(bad)  # type: ignore[arg-type]


def test_context_requires_tenant_agent_step_and_carries_deadlines() -> None:
    with pytest.raises(ConfigurationError, match="step_name"):
        ExecutionContext(tenant_id="t", agent_id="a").require_call_fields()
    ctx = ExecutionContext(tenant_id="t", agent_id="a", step_name="generation")
    assert ctx.remaining() is None
    soon = ctx.with_deadline_in(10)
    assert 9 < soon.remaining() <= 10  # type: ignore[operator]
    assert soon.with_deadline_in(100).deadline == soon.deadline  # never extended
    assert ExecutionContext(tenant_id="t", agent_id="a", deadline=time.monotonic() - 1).remaining() < 0  # type: ignore[operator]


def test_token_usage() -> None:
    total = TokenUsage(input=10, output=5, cached_input=4) + TokenUsage(input=1, output=1, reasoning=1)
    assert (total.input, total.output, total.cached_input, total.reasoning, total.total) == (11, 6, 4, 1, 17)


@pytest.mark.parametrize(
    ("error", "retryable"),
    [
        (RateLimitError("x", status_code=429), True),
        (ProviderUnavailable("x", status_code=503), True),
        (AuthenticationError("x", status_code=401), False),
        (BadRequestError("x", status_code=422), False),
        (ContextWindowExceeded("x", status_code=400), False),
        (ProviderUnavailable("x", status_code=404), False),
        (StreamInterruptedError("x"), True),
        (StreamInterruptedError("x", after_first_token=True), False),
        (ValueError("x"), False),
    ],
)
def test_retry_decides_on_type_and_status(error: BaseException, retryable: bool) -> None:
    assert RetryPolicy.is_retryable(error) is retryable


def test_retry_delays() -> None:
    import random

    policy = RetryPolicy(initial_delay=1, max_delay=5, exponential_base=2, rng=random.Random(1))
    assert all(0 <= policy.delay(n) <= min(5, 2 ** (n - 1)) for n in range(1, 8))
    assert RetryPolicy(jitter=False, initial_delay=1, max_delay=5).delay(4) == 5
    assert policy.delay(1, RateLimitError("x", retry_after=3)) >= 3
    assert policy.delay(1, RateLimitError("x", retry_after=30)) is None  # longer than max_delay: move on
    with pytest.raises(ValueError):
        RetryPolicy(max_attempts=0)


def test_provider_errors_pickle_with_their_fields() -> None:
    import pickle

    err = pickle.loads(
        pickle.dumps(RateLimitError("slow", provider="openai", model="m", status_code=429, retry_after=2))
    )
    assert (err.provider, err.status_code, err.retry_after, err.retryable) == ("openai", 429, 2, True)
    assert str(err) == "openai/m: slow (HTTP 429)"


class Answer(BaseModel):
    text: str


def test_sync_wrapper_over_the_scripted_executor() -> None:
    scripted = ScriptedExecutor("hello", '{"text": "structured"}', "streamed", RuntimeError("boom"))
    assert isinstance(scripted, LLMExecutor)
    ctx = ExecutionContext(tenant_id="t", agent_id="a", step_name="generation")
    with SyncExecutor(scripted) as sync:
        assert sync.run("hi", ctx).content == "hello"
        obj, _ = sync.run_structured("hi", Answer, ctx)
        assert obj == Answer(text="structured")
        deltas, final = sync.stream_text("hi", ctx)
        assert deltas == ["streamed"] and final.content == "streamed"
        with pytest.raises(RuntimeError, match="boom"):
            sync.run("hi", ctx)
    assert [c[1].tenant_id for c in scripted.calls] == ["t"] * 4
