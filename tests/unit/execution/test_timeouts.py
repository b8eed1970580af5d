"""Whom a timeout blames: the operator's timeout (the step's, the provider's) blames the provider;
a caller's own shorter one does not (one impatient tenant is no sign of the provider's health)."""

from __future__ import annotations

import pytest

from focal.execution import AgnoExecutor, CallRequest, ExecutionContext, Message, ProviderTimeoutError
from focal.execution.breaker import counts_against_breaker
from focal.execution.testing import FakeModels
from focal.providers import CallParams
from focal.routing import ModelRegistry


@pytest.mark.parametrize(("step_timeout", "caller_timeout", "blamed"), [(0.05, None, True), (None, 0.05, False)])
async def test_who_set_the_timeout_decides_whether_the_provider_is_blamed(
    registry: ModelRegistry, step_timeout: float | None, caller_timeout: float | None, blamed: bool
) -> None:
    executor = AgnoExecutor(registry, model_factory=FakeModels(default="late", delay=1.0).factory)
    ctx = ExecutionContext(
        tenant_id="acme",
        agent_id="support",
        session_id="acme:s1",
        step_name="generation",
        timeout_seconds=caller_timeout,
    )
    request = CallRequest(
        messages=(Message.user("hi"),),
        model=registry.parse_ref("openai/gpt-4o"),
        ctx=ctx,
        params=CallParams(timeout_seconds=step_timeout or caller_timeout),  # as the plan passes it on
    )
    with pytest.raises(ProviderTimeoutError) as info:
        await executor.call(request)
    assert counts_against_breaker(info.value) is blamed
