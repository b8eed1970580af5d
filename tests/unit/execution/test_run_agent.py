"""`run_agent`: a step's Agno Agent definition (no model, no db) run as the template of each attempt's copy."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import pytest
from agno.agent import Agent
from agno.db.in_memory import InMemoryDb
from pydantic import BaseModel

from focal.execution import ConfigurationError, ProviderUnavailable, StructuredOutputError
from focal.execution.testing import FakeModel, ScriptedExecutor
from focal.telemetry.records import CallStatus

from .conftest import Harness

SONNET = "anthropic/claude-sonnet-5"  # support.generation's model
GPT4O = "openai/gpt-4o"  # its first fallback
MINI = "openai/gpt-4o-mini"  # openai:cheap


class Reply(BaseModel):
    answer: str
    confident: bool


def template(**kw: Any) -> Agent:
    base: dict[str, Any] = dict(
        name="writer",
        description="You write support replies.",
        instructions=["Answer in one sentence.", "Never promise refunds."],
        expected_output="A JSON object.",
        additional_context="The shop sells shoes.",
        output_schema=Reply,
        telemetry=False,
    )
    base.update(kw)
    return Agent(**base)


def seen_by_model(log: list[Any], answer: str | None = None):  # type: ignore[no-untyped-def]
    """A scripted reply that keeps the messages the model received and answers a `Reply`."""

    def reply(messages: list[Any]) -> str:
        log.append(messages)
        return json.dumps({"answer": answer or f"re: {messages[-1].content}", "confident": True})

    return reply


def snapshot(agent: Agent) -> dict[str, Any]:
    return {k: copy.copy(v) if isinstance(v, list | dict) else v for k, v in vars(agent).items()}


async def test_the_answer_is_the_templates_typed_output_on_the_resolved_model(harness: Harness) -> None:
    seen: list[Any] = []
    harness.fakes.script(SONNET, seen_by_model(seen))
    agent = template()
    result, response = await harness.executor.run_agent(agent, "where is my order?", harness.ctx())
    assert result == Reply(answer="re: where is my order?", confident=True)
    assert (response.model_id, response.provider) == ("claude-sonnet-5", "anthropic")
    assert json.loads(response.content) == result.model_dump()
    system = seen[0][0]
    assert system.role == "system"
    for text in ("You write support replies.", "Never promise refunds.", "A JSON object.", "sells shoes"):
        assert text in system.content  # description, instructions, expected output, context: Agno's own prompt
    (record,) = harness.records
    assert (record.tenant_id, record.status, record.step_name) == ("acme", CallStatus.SUCCESS, "generation")
    assert record.call_id == response.call_id and record.input_tokens == 10
    assert agent.model is None and agent.db is None


async def test_an_agent_without_schema_answers_text(harness: Harness) -> None:
    seen: list[Any] = []

    def reply(messages: list[Any]) -> str:
        seen.append(messages)
        return "plain words"

    harness.fakes.script(SONNET, reply)
    prompt = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "hi"}]
    result, response = await harness.executor.run_agent(template(output_schema=None), prompt, harness.ctx())
    assert result == response.content == "plain words"
    system = seen[0][0].content
    assert system.index("Never promise refunds.") < system.index("Be brief.")  # after the template's own
    assert (seen[0][1].role, seen[0][1].content) == ("user", "hi")


async def test_the_scripted_executor_runs_templates_too(harness: Harness) -> None:
    scripted = ScriptedExecutor(json.dumps({"answer": "a", "confident": True}), "text")
    result, _ = await scripted.run_agent(template(), "hi", harness.ctx())
    assert result == Reply(answer="a", confident=True)
    assert (await scripted.run_agent(template(output_schema=None), "hi", harness.ctx()))[0] == "text"
    with pytest.raises(ConfigurationError, match="has model"):
        await scripted.run_agent(template(model=FakeModel()), "hi", harness.ctx())


async def test_a_reply_that_does_not_validate_is_reasked_once_then_refused(harness: Harness) -> None:
    harness.fakes.script(SONNET, "not json", json.dumps({"answer": "ok", "confident": False}))
    result, response = await harness.executor.run_agent(template(), "hi", harness.ctx())
    assert result == Reply(answer="ok", confident=False) and harness.fakes.calls(SONNET) == 2
    assert response.usage.input == 20  # both requests billed
    harness.fakes.script(SONNET, "nope", "still nope")
    with pytest.raises(StructuredOutputError) as info:
        await harness.executor.run_agent(template(), "hi", harness.ctx())
    assert info.value.raw_text == "still nope" and info.value.schema_name == "Reply"
    assert harness.fakes.calls(SONNET) == 4  # not retried, not failed over: a schema error is fatal


async def test_fallback_runs_the_same_template_on_the_next_hop(harness: Harness) -> None:
    down = [ProviderUnavailable("down", status_code=503) for _ in range(3)]
    seen: list[Any] = []
    harness.fakes.script(SONNET, *down)
    harness.fakes.script(GPT4O, seen_by_model(seen, "from the fallback"))
    result, response = await harness.executor.run_agent(template(), "hi", harness.ctx())
    assert result.answer == "from the fallback" and response.model_id == "gpt-4o" and response.fallback_used
    assert "Never promise refunds." in seen[0][0].content
    assert [(a.model_ref, a.status) for a in response.attempts] == [
        (SONNET, "error"),
        (SONNET, "error"),
        (SONNET, "error"),
        (GPT4O, "success"),
    ]
    assert [r.status for r in harness.records] == ["error", "error", "error", "success"]
    assert harness.sleeps and len(harness.sleeps) == 2  # retried with back-off before failing over


async def test_one_template_serves_two_tenants_at_once_unchanged(harness: Harness) -> None:
    await harness.overrides.aset("globex", "support", "generation", "openai:cheap")
    model_of = {"acme": "claude-sonnet-5", "globex": "gpt-4o-mini"}
    for ref in (SONNET, MINI):
        harness.fakes.script(ref, *[seen_by_model([]) for _ in range(10)])

    def lookup(order: str) -> str:
        """Look an order up."""
        return order

    agent = template(tools=[lookup])
    before = snapshot(agent)
    tools = agent.tools

    async def call(tenant: str, i: int) -> tuple[str, int, Reply, Any]:
        ctx = harness.ctx(tenant_id=tenant, session_id=f"{tenant}:s{i}")
        result, response = await harness.executor.run_agent(agent, f"{tenant} question {i}", ctx)
        return tenant, i, result, response

    results = await asyncio.gather(*(call(t, i) for i in range(10) for t in ("acme", "globex")))
    for tenant, i, result, response in results:
        assert result.answer == f"re: {tenant} question {i}"
        assert response.model_id == model_of[tenant]
    assert {r.tenant_id: r.model_id for r in harness.records} == model_of
    assert snapshot(agent) == before and agent.tools is tools and agent.model is None  # never touched


@pytest.mark.parametrize(
    ("kw", "has"),
    [
        ({"model": FakeModel()}, "model"),
        ({"db": InMemoryDb()}, "db"),
        ({"pre_hooks": [lambda: None]}, "pre_hooks"),
        ({"session_state": {"x": 1}}, "session_state"),
    ],
)
async def test_a_template_with_a_model_or_db_is_refused_before_anything_is_sent(
    harness: Harness, kw: dict[str, Any], has: str
) -> None:
    with pytest.raises(ConfigurationError, match=rf"agent 'writer' is a template.*has {has}"):
        await harness.executor.run_agent(template(**kw), "hi", harness.ctx())
    assert not harness.records and harness.fakes.calls(SONNET) == 0


async def test_a_template_whose_output_is_not_typed_is_refused(harness: Harness) -> None:
    with pytest.raises(ConfigurationError, match="pydantic model class"):
        await harness.executor.run_agent(template(output_schema={"type": "object"}), "hi", harness.ctx())
    with pytest.raises(ConfigurationError, match="takes an agno Agent"):
        await harness.executor.run_agent("writer", "hi", harness.ctx())  # type: ignore[arg-type]


async def test_the_templates_tool_hooks_run_after_focals(harness: Harness) -> None:
    calls: list[str] = []

    def audit(function_name: str, function_call: Any, arguments: dict[str, Any]) -> Any:
        calls.append(function_name)
        return function_call(**arguments)

    def lookup(order: str) -> str:
        """Look an order up."""
        return f"order {order} shipped"

    harness.fakes.script(
        SONNET, {"tool": "lookup", "args": {"order": "A1"}}, json.dumps({"answer": "shipped", "confident": True})
    )
    result, response = await harness.executor.run_agent(
        template(tools=[lookup], tool_hooks=[audit]), "A1?", harness.ctx()
    )
    assert result.answer == "shipped" and calls == ["lookup"]
    assert response.usage.input == 20  # the tool loop's two requests
