"""Tools in every kind of call see the caller's `session_state` (and its user); the tenant fields stay Focal's."""

from __future__ import annotations

import copy
import json
import pickle
from typing import Any

import pytest
from agno.agent import Agent
from agno.run import RunContext
from pydantic import BaseModel

from focal.execution import ConfigurationError, ExecutionContext, ProviderUnavailable, ToolSessionState

from .conftest import Harness

SONNET = "anthropic/claude-sonnet-5"
HOST = {"tenant_id": "acme", "agent_id": "support", "session_id": "acme:s1"}


class Order(BaseModel):
    order_id: str
    status: str


def tool_call(name: str, **args: Any) -> dict[str, Any]:
    return {"tool": name, "args": args}


def bump(order_id: str, run_context: RunContext) -> str:
    """Count a rule fire and remember the order.

    Args:
        order_id: the order
    """
    state = run_context.session_state
    assert state is not None
    state["fires"]["r1"] += 1  # the caller's own nested objects
    state.setdefault("variables", {})["order_id"] = order_id
    return f"{order_id} for {state['tenant_id']} ({run_context.user_id})"


async def test_a_tool_reads_and_writes_the_callers_state(harness: Harness) -> None:
    state: dict[str, Any] = {"fires": {"r1": 2}, "scenario": "returns"}
    fires = state["fires"]
    harness.fakes.script(SONNET, tool_call("bump", order_id="A1"), "noted")
    response = await harness.executor.run("A1", harness.ctx(), tools=[bump], session_state=state, user_id="u-42")
    assert response.content == "noted" and response.metadata["user_id"] == "u-42"
    assert state == {**HOST, "fires": {"r1": 3}, "scenario": "returns", "variables": {"order_id": "A1"}}
    assert state["fires"] is fires  # written in place, not replaced by a copy
    assert not any(k.startswith("current_") for k in state)  # Agno's per-run keys stay in the run


async def test_tools_in_structured_calls_and_their_user(harness: Harness) -> None:
    seen: list[str] = []

    def lookup(order_id: str, run_context: RunContext) -> str:
        """Look an order up.

        Args:
            order_id: the order
        """
        seen.append(f"{run_context.session_state['tenant_id']}/{run_context.user_id}")  # type: ignore[index]
        run_context.session_state["looked_up"] = order_id  # type: ignore[index]
        return "shipped"

    state: dict[str, Any] = {}
    harness.fakes.script(
        SONNET, tool_call("lookup", order_id="A1"), json.dumps({"order_id": "A1", "status": "shipped"})
    )
    order, response = await harness.executor.run_structured(
        "A1?", Order, harness.ctx(), tools=[lookup], session_state=state, user_id="u-7"
    )
    assert order == Order(order_id="A1", status="shipped") and seen == ["acme/u-7"]
    assert state == {**HOST, "looked_up": "A1"} and response.usage.input == 20


async def test_tools_in_streams(harness: Harness) -> None:
    state: dict[str, Any] = {"fires": {"r1": 0}}
    harness.fakes.script(SONNET, tool_call("bump", order_id="B2"), "Order B2 is on its way.")
    chunks = [
        c async for c in harness.executor.stream("B2?", harness.ctx(), tools=[bump], session_state=state, user_id="u-1")
    ]
    final = chunks[-1].response
    assert final is not None and "".join(c.delta for c in chunks[:-1]) == final.content == "Order B2 is on its way."
    assert state["fires"] == {"r1": 1} and state["variables"] == {"order_id": "B2"}
    assert final.usage.input == 20 and final.metadata["user_id"] == "u-1"


async def test_a_stream_whose_tool_ran_is_never_repeated(harness: Harness) -> None:
    state: dict[str, Any] = {"fires": {"r1": 0}}
    harness.fakes.script(SONNET, tool_call("bump", order_id="B2"), ProviderUnavailable("down", status_code=503))
    with pytest.raises(ProviderUnavailable) as info:
        async for _ in harness.executor.stream("B2?", harness.ctx(), tools=[bump], session_state=state):
            pass
    assert info.value.tools_ran and state["fires"] == {"r1": 1}  # bumped once: no retry, no fallback
    assert harness.fakes.calls(SONNET) == 2 and len(harness.records) == 1


async def test_a_tool_cannot_change_the_tenant(harness: Harness) -> None:
    later: list[dict[str, Any]] = []

    def hijack(run_context: RunContext) -> str:
        """Try to act for another tenant."""
        state = run_context.session_state
        assert state is not None
        state["tenant_id"] = "globex"
        del state["agent_id"]
        state.update(session_id="globex:s9", note="kept")
        state.pop("tenant_id")
        state |= {"tenant_id": "globex"}
        later.append(dict(state))  # even the tool itself reads the host's tenant back
        run_context.session_state = {"tenant_id": "globex"}  # replaced outright
        return "done"

    def read(run_context: RunContext) -> str:
        """Read who this is for."""
        later.append(dict(run_context.session_state or {}))
        return "read"

    state: dict[str, Any] = {}
    harness.fakes.script(SONNET, tool_call("hijack"), tool_call("read"), "ok")
    response = await harness.executor.run("go", harness.ctx(), tools=[hijack, read], session_state=state)
    assert response.content == "ok"
    for seen in later:  # what this tool and the next one saw
        assert {k: seen[k] for k in HOST} == HOST and seen["note"] == "kept"
    assert state == {**HOST, "note": "kept"}  # the caller's state: the host's tenant, the other write kept
    assert {(r.tenant_id, r.agent_id, r.session_id) for r in harness.records} == {tuple(HOST.values())}


async def test_a_template_agents_tools_share_the_workflow_state(harness: Harness) -> None:
    class Done(BaseModel):
        fires: int

    agent = Agent(name="counter", instructions="Count.", tools=[bump], output_schema=Done, telemetry=False)
    state: dict[str, Any] = {"fires": {"r1": 4}}
    harness.fakes.script(SONNET, tool_call("bump", order_id="C3"), json.dumps({"fires": 5}))
    done, response = await harness.executor.run_agent(agent, "count", harness.ctx(), session_state=state, user_id="u-9")
    assert done == Done(fires=5) and state["fires"] == {"r1": 5} and state["variables"] == {"order_id": "C3"}
    assert response.metadata["user_id"] == "u-9" and agent.tools == [bump]


async def test_a_state_of_another_tenant_is_refused_before_anything_is_sent(harness: Harness) -> None:
    state = {"tenant_id": "globex", "secret": "x"}
    with pytest.raises(ConfigurationError, match="belongs to"):
        await harness.executor.run("hi", harness.ctx(), tools=[bump], session_state=state)
    assert state == {"tenant_id": "globex", "secret": "x"} and not harness.records
    with pytest.raises(ConfigurationError, match="must be a dict"):
        await harness.executor.run("hi", harness.ctx(), session_state=[("tenant_id", "acme")])  # type: ignore[arg-type]
    with pytest.raises(ConfigurationError, match="user_id must be a string"):
        await harness.executor.run("hi", harness.ctx(), user_id=42)  # type: ignore[arg-type]


async def test_a_call_without_tools_still_claims_the_state_and_passes_the_user(harness: Harness) -> None:
    state: dict[str, Any] = {"x": 1}
    response = await harness.executor.run("hi", harness.ctx(), session_state=state, user_id="u-3")
    assert state == {**HOST, "x": 1} and response.metadata["user_id"] == "u-3"
    plain = await harness.executor.run("hi", harness.ctx())
    assert "user_id" not in plain.metadata


def test_the_guarded_view_writes_through_and_copies_plainly() -> None:
    ctx = ExecutionContext(tenant_id="acme", agent_id="support", step_name="generation")  # no session id
    caller: dict[str, Any] = {"tenant_id": "acme", "agent_id": "support", "a": 1, "b": [1]}
    view = ToolSessionState(caller, {"tenant_id": ctx.tenant_id, "agent_id": ctx.agent_id})
    view["current_run_id"] = "agno-run"  # Agno's per-run key: the view's only
    view["session_id"] = "free"  # not fixed for a call without a session id
    assert caller["session_id"] == "free" and "current_run_id" not in caller
    assert view.setdefault("a", 5) == 1 and view.pop("b") == [1] and view.pop("zz", None) is None
    assert view.pop("tenant_id") == "acme" and view["tenant_id"] == "acme"
    assert view.popitem() == ("session_id", "free") and "session_id" not in caller
    view.clear()
    assert view == {"tenant_id": "acme", "agent_id": "support"}
    assert caller == {"tenant_id": "acme", "agent_id": "support"}
    with pytest.raises(KeyError, match="only the tenant fields"):
        view.popitem()
    view |= {"n": 1}
    for twin in (copy.copy(view), copy.deepcopy(view), pickle.loads(pickle.dumps(view))):
        assert type(twin) is dict and twin == view == {**caller, "n": 1}
