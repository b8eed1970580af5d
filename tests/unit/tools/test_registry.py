"""The tool registry without a database: specs derived from functions, argument checks, timeouts,
failures turned into results, and the tenant read from the run context only."""

from __future__ import annotations

import asyncio
import json
import pickle
from typing import Any

import pytest
from agno.run import RunContext
from agno.tools.function import Function
from focal.tools import (
    SHIPPED_TOOLS,
    DemoTools,
    MissingCustomerError,
    MissingTenantError,
    ToolArgumentError,
    ToolError,
    ToolOutput,
    ToolRegistry,
    customer_of,
    shipped_catalog,
    spec_of,
    tenant_of,
    tool_outputs,
)

from focal.alignment import ToolSpec


def ctx(tenant: str | None = "acme", user: str | None = "u-42") -> RunContext:
    state = {"tenant_id": tenant} if tenant is not None else {}
    return RunContext(run_id="r1", session_id="acme:support:c1", user_id=user, session_state=state)


@tool_outputs("echo_text", "echo_tenant", "echo_count")
async def echo(text: str, run_context: RunContext, count: int = 1, loud: bool = False) -> ToolOutput:
    """Echo the text for the current tenant.

    Args:
        text: what to echo.
        count: how many times.
        loud: upper case.
    """
    tenant = tenant_of(run_context, "echo")
    return ToolOutput(echo_text=(text.upper() if loud else text) * count, echo_tenant=tenant, echo_count=count)


@tool_outputs("charged")
async def charge(amount: float, run_context: RunContext, note: str | None = None) -> ToolOutput:
    """Charge an amount."""
    return ToolOutput(charged=amount)


@tool_outputs("never")
async def slow(run_context: RunContext) -> ToolOutput:
    """Wait for a long time."""
    await asyncio.sleep(30)
    return ToolOutput(never=True)


@tool_outputs("x")
async def broken(run_context: RunContext) -> ToolOutput:
    """Fail like a bug."""
    raise RuntimeError("boom\nsecond line")


@tool_outputs("x")
async def leaky(run_context: RunContext) -> dict[str, Any]:
    """Return a field it did not declare."""
    return {"x": 1, "secret": 2}


@tool_outputs("x")
async def stringly(run_context: RunContext) -> Any:
    """Return a string."""
    return "x=1"


@tool_outputs("x")
async def own_timeout(run_context: RunContext) -> ToolOutput:
    """Hit a timeout of its own (e.g. a backend's)."""
    raise TimeoutError("backend did not answer")


@pytest.fixture
def registry() -> ToolRegistry:
    return ToolRegistry([echo, charge, slow, broken, leaky, stringly, own_timeout])


# --- specs ------------------------------------------------------------------------------------------


def test_a_spec_is_derived_from_the_function() -> None:
    assert spec_of(echo) == ToolSpec(
        "echo",
        "Echo the text for the current tenant.",
        {"text": "string", "count": "integer", "loud": "boolean"},
        frozenset({"echo_text", "echo_tenant", "echo_count"}),
    )
    assert spec_of(charge).parameters == {"amount": "number", "note": "string"}


def test_the_spec_agrees_with_the_schema_agno_shows_the_model() -> None:
    for function in (echo, *DemoTools.definitions()):
        spec = spec_of(function)
        shown = Function.from_callable(function)
        assert shown.name == spec.id
        properties = shown.parameters["properties"]
        assert set(properties) == set(spec.parameters), spec.id  # run_context hidden, no tenant
        for name, json_type in spec.parameters.items():
            schema = properties[name]
            types = {schema.get("type")} | {s.get("type") for s in schema.get("anyOf", [])}
            assert json_type in types, (spec.id, name, schema)


@pytest.mark.parametrize(
    ("source", "message"),
    [
        ("@tool_outputs('a')\ndef t(run_context: RunContext) -> dict:\n    'Doc.'", "must be an `async def`"),
        ("@tool_outputs('a')\nasync def t(x: str) -> dict:\n    'Doc.'", "must take `run_context: RunContext`"),
        (
            "@tool_outputs('a')\nasync def t(tenant_id: str, run_context: RunContext) -> dict:\n    'Doc.'",
            "must not take a tenant_id argument",
        ),
        ("@tool_outputs('a')\nasync def t(run_context: RunContext) -> dict:\n    pass", "needs a docstring"),
        ("async def t(run_context: RunContext) -> dict:\n    'Doc.'", "declares no outputs"),
        (
            "@tool_outputs('a')\nasync def t(x: set, run_context: RunContext) -> dict:\n    'Doc.'",
            "parameter 'x' has an unsupported type",
        ),
        (
            "@tool_outputs('a')\nasync def t(*xs: str, run_context: RunContext) -> dict:\n    'Doc.'",
            "parameter 'xs' must be a named parameter",
        ),
    ],
)
def test_a_function_that_is_not_a_valid_tool_is_refused(source: str, message: str) -> None:
    namespace: dict[str, Any] = {"tool_outputs": tool_outputs, "RunContext": RunContext}
    exec(source, namespace)
    with pytest.raises(TypeError, match=message):
        ToolRegistry([namespace["t"]])


def test_a_tool_registered_twice_is_refused(registry: ToolRegistry) -> None:
    with pytest.raises(ValueError, match="tool 'echo' is registered twice"):
        registry.register(echo)


def test_registry_lookup_and_agno_tools(registry: ToolRegistry) -> None:
    assert registry.ids() == sorted(["echo", "charge", "slow", "broken", "leaky", "stringly", "own_timeout"])
    assert "echo" in registry and "nope" not in registry and len(registry) == 7
    found = registry.get("echo")
    assert found is not None and found.function is echo and found.required == frozenset({"text"})
    assert registry.get("nope") is None
    assert registry.agno_tools(["echo", "charge"]) == [echo, charge]
    assert len(registry.agno_tools()) == 7
    with pytest.raises(KeyError, match="unknown tool"):
        registry.agno_tools(["echo", "nope"])
    assert registry.catalog().ids() == registry.ids()


def test_the_shipped_catalog_is_the_demo_tools_specs() -> None:
    assert [s.id for s in SHIPPED_TOOLS] == ["order_lookup", "customer_profile", "refund_request"]
    assert tuple(spec_of(f) for f in DemoTools.definitions()) == SHIPPED_TOOLS
    catalog = shipped_catalog()
    assert catalog.ids() == sorted(s.id for s in SHIPPED_TOOLS)
    order = catalog.get("order_lookup")
    assert order is not None and order.parameters == {"order_number": "string"}
    assert {"order_status", "order_total", "order_items", "carrier"} <= order.outputs
    refund = catalog.get("refund_request")
    assert refund is not None and refund.parameters == {"order_number": "string", "amount": "number"}
    assert {"customer_name", "customer_tier", "refund_id", "refund_status"} <= catalog.outputs()


# --- invoke -----------------------------------------------------------------------------------------


async def test_invoke_runs_the_tool_with_the_run_contexts_tenant(registry: ToolRegistry) -> None:
    result = await registry.invoke("echo", {"text": "hi", "count": "2"}, ctx("globex"))
    assert result.ok and result.error is None and result.tool_id == "echo"
    assert result.output == {"echo_text": "hihi", "echo_tenant": "globex", "echo_count": 2}
    assert type(result.output) is dict and result.elapsed_ms >= 0
    charged = await registry.invoke("charge", {"amount": "12.5", "note": None}, ctx())
    assert charged.ok and charged.output == {"charged": 12.5}


@pytest.mark.parametrize(
    ("tool", "arguments", "error"),
    [
        (
            "echo",
            {"text": "hi", "tenant_id": "globex"},
            "echo: unexpected argument 'tenant_id' (the tenant comes from the session state, never from an "
            "argument); expected: text, count, loud",
        ),
        ("echo", {"text": "hi", "colour": "red"}, "echo: unexpected argument 'colour'; expected: text, count, loud"),
        ("echo", {}, "echo: missing argument 'text' (string)"),
        ("echo", {"text": None}, "echo: missing argument 'text' (string)"),
        ("echo", {"text": 12}, "echo: argument 'text' must be a string, got 12"),
        ("echo", {"text": "a", "count": 1.5}, "echo: argument 'count' must be an integer, got 1.5"),
        ("echo", {"text": "a", "loud": "yes"}, "echo: argument 'loud' must be a boolean, got 'yes'"),
        ("charge", {"amount": "ten"}, "charge: argument 'amount' must be a number, got 'ten'"),
        ("charge", {"amount": True}, "charge: argument 'amount' must be a number, got True"),
        ("charge", {"amount": float("nan")}, "charge: argument 'amount' must be a number, got nan"),
        ("nope", {}, "unknown tool 'nope' (registered: broken, charge, echo, leaky, own_timeout, slow, stringly)"),
    ],
)
async def test_bad_arguments_fail_the_call_naming_tool_and_argument(
    registry: ToolRegistry, tool: str, arguments: dict[str, Any], error: str
) -> None:
    result = await registry.invoke(tool, arguments, ctx())
    assert (result.ok, result.output, result.error) == (False, {}, error)


@pytest.mark.parametrize(
    "context",
    [
        ctx(tenant=None),
        ctx(tenant=""),
        RunContext(run_id="r", session_id="s", session_state=None),
        RunContext(run_id="r", session_id="s", session_state={"tenant_id": 7}),
    ],
    ids=["no-key", "empty", "no-state", "not-a-string"],
)
async def test_no_tenant_in_the_run_context_is_refused(registry: ToolRegistry, context: RunContext) -> None:
    result = await registry.invoke("echo", {"text": "hi"}, context)
    assert not result.ok and result.output == {}
    assert result.error == "echo: no tenant in the run context (session_state['tenant_id'] is missing): refusing to run"


async def test_a_slow_tool_times_out(registry: ToolRegistry) -> None:
    result = await registry.invoke("slow", {}, ctx(), timeout=0.05)
    assert (result.ok, result.output, result.error) == (False, {}, "slow timed out after 0.05 s")
    assert 40 <= result.elapsed_ms < 5_000
    late = await registry.invoke("slow", {}, ctx(), timeout=-1)  # the turn's deadline already passed
    assert late.error == "slow timed out after 0 s"
    ran = await registry.invoke("echo", {"text": "x"}, ctx(), timeout=None)
    assert ran.ok


async def test_failures_become_results(registry: ToolRegistry) -> None:
    broke = await registry.invoke("broken", {}, ctx())
    assert (broke.ok, broke.error) == (False, "broken failed: RuntimeError: boom")
    own = await registry.invoke("own_timeout", {}, ctx(), timeout=5)
    assert own.error == "own_timeout failed: TimeoutError: backend did not answer"
    leak = await registry.invoke("leaky", {}, ctx())
    assert (leak.ok, leak.output, leak.error) == (False, {}, "leaky returned undeclared fields: secret")
    text = await registry.invoke("stringly", {}, ctx())
    assert text.error == "stringly returned a str, not a mapping of output fields"


async def test_concurrent_invocations_each_see_their_own_tenant(registry: ToolRegistry) -> None:
    tenants = [f"t{i}" for i in range(20)]
    results = await asyncio.gather(*(registry.invoke("echo", {"text": "x"}, ctx(t)) for t in tenants))
    assert [r.output["echo_tenant"] for r in results] == tenants


# --- context and errors -----------------------------------------------------------------------------


def test_tenant_and_customer_come_from_the_run_context() -> None:
    assert tenant_of(ctx("acme"), "t") == "acme"
    assert customer_of(ctx(user="u-7"), "t") == "u-7"
    with pytest.raises(MissingTenantError, match=r"^t: no tenant"):
        tenant_of(None, "t")
    with pytest.raises(MissingCustomerError, match=r"^t: no customer in the run context \(run_context.user_id"):
        customer_of(ctx(user=None), "t")


def test_tool_output_reads_as_json_for_the_model() -> None:
    output = ToolOutput(order_status="shipped", carrier=None, order_total=49.9)
    assert json.loads(str(output)) == {"order_status": "shipped", "carrier": None, "order_total": 49.9}
    assert output == {"order_status": "shipped", "carrier": None, "order_total": 49.9}


@pytest.mark.parametrize(
    "error",
    [
        ToolError("t", "went wrong"),
        ToolArgumentError("t", "amount", "bad amount"),
        MissingTenantError("t"),
        MissingCustomerError("t"),
    ],
)
def test_tool_errors_are_picklable(error: ToolError) -> None:
    copy = pickle.loads(pickle.dumps(error))
    assert type(copy) is type(error) and str(copy) == str(error) and copy.tool_id == "t"
    assert getattr(copy, "argument", None) == getattr(error, "argument", None)
