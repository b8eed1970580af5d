"""Plan a call: resolve the model for (tenant, agent, step) — or a task type — apply hints, cut the hops."""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

from focal.errors import ConfigError, NotFoundError
from focal.execution.errors import ConfigurationError
from focal.execution.fallback import FallbackPolicy
from focal.execution.types import ExecutionContext
from focal.providers import CallParams
from focal.routing import (
    ModelInfo,
    ModelResolver,
    PipelineStep,
    check_tenant_id,
    default_fallback_chain,
    get_tier_for_task,
)

__all__ = ["CallPlan", "PlanCache", "plan_call"]

_MAX_CACHED_PLANS = 50_000


@dataclass(slots=True, kw_only=True)
class CallPlan:
    """What a call will try, and why. `hops` is the call's own list (a budget downgrade may insert into it)."""

    hops: list[ModelInfo]
    source: str
    reason: str
    task_type: str | None
    params: CallParams
    metadata: dict[str, Any] = field(default_factory=dict)
    """The resolution's source and reason, as copied into every response (read-only, shared)."""

    def __post_init__(self) -> None:
        if not self.metadata:
            self.metadata = {"resolution_source": self.source, "resolution_reason": self.reason}


async def plan_call(resolver: ModelResolver, fallback: FallbackPolicy, ctx: ExecutionContext) -> CallPlan:
    """Tenant override > agent catalog > task default; then the context's tier/provider hints
    (never over a tenant override); then the fallback policy.

    Raises:
        ConfigurationError: unknown agent, step or task; a malformed tenant id; unusable hints.
    """
    registry = resolver.registry
    step = ctx.step_name or ""
    try:
        if step in PipelineStep._value2member_map_:
            res = await resolver.aresolve(ctx.tenant_id, ctx.agent_id, step)
            model, chain, source, reason = res.model, list(res.fallback_chain), res.source.value, res.reason
            task = res.task_type.value
            params = CallParams(
                temperature=res.temperature, max_tokens=res.max_tokens, timeout_seconds=res.timeout_seconds
            )
        elif ctx.task_type:
            check_tenant_id(ctx.tenant_id)  # the resolver checks it on the pipeline-step path
            catalog = resolver.catalogs.get(ctx.agent_id)
            tier = get_tier_for_task(ctx.task_type, default=resolver.default_task_tier)
            model = registry.get(catalog.default_provider, tier)
            chain = default_fallback_chain(registry, model)
            source = "task_default"
            reason = (
                f"task default: task {ctx.task_type!r} -> tier {tier.value} on default_provider "
                f"{catalog.default_provider!r} of {catalog.source} => {model.ref}"
            )
            task, params = ctx.task_type, CallParams()
        else:
            raise ConfigurationError(
                f"step {step!r} is not a pipeline step ({', '.join(s.value for s in PipelineStep)}); "
                "give a pipeline step or a task_type"
            )
    except (NotFoundError, ConfigError) as exc:  # unknown agent, step or task; bad tenant id
        raise ConfigurationError(str(exc)) from exc
    if (ctx.tier_hint or ctx.provider_hint) and source != "tenant_override":
        try:
            hinted = registry.get(ctx.provider_hint or model.provider, ctx.tier_hint or model.tier)
        except Exception as exc:
            raise ConfigurationError(f"hints provider={ctx.provider_hint} tier={ctx.tier_hint}: {exc}") from exc
        if hinted.ref != model.ref:
            reason = (
                f"ExecutionContext hints (provider={ctx.provider_hint}, tier={ctx.tier_hint}) => "
                f"{hinted.ref}; instead of: {reason}"
            )
            source, model = "hint", hinted
            chain = default_fallback_chain(registry, model)
    if ctx.timeout_seconds is not None:
        params = replace(params, timeout_seconds=ctx.timeout_seconds)
    hops = fallback.hops(model, chain)
    return CallPlan(hops=hops, source=source, reason=reason, task_type=task, params=params)


class PlanCache:
    """Plans cached per cached `Resolution` object (a changed override yields a new one, so a stale plan
    is never served); contexts with hints, a timeout or a task outside the pipeline are planned afresh.
    Each call gets its own copy of the hops list."""

    def __init__(self, resolver: ModelResolver, fallback: FallbackPolicy) -> None:
        self.resolver = resolver
        self.fallback = fallback
        self._plans: dict[int, tuple[object, CallPlan]] = {}

    async def plan(self, ctx: ExecutionContext) -> CallPlan:
        if (
            ctx.tier_hint
            or ctx.provider_hint
            or ctx.timeout_seconds is not None
            or ctx.step_name not in PipelineStep._value2member_map_
        ):
            return await plan_call(self.resolver, self.fallback, ctx)
        try:
            resolution = await self.resolver.aresolve(ctx.tenant_id, ctx.agent_id, ctx.step_name)
        except (NotFoundError, ConfigError) as exc:
            raise ConfigurationError(str(exc)) from exc
        cached = self._plans.get(id(resolution))
        if cached is None or cached[0] is not resolution:
            cached = (resolution, await plan_call(self.resolver, self.fallback, ctx))
            self._plans[id(resolution)] = cached
            while len(self._plans) > _MAX_CACHED_PLANS:
                self._plans.pop(next(iter(self._plans)))
        t = cached[1]
        return CallPlan(
            hops=list(t.hops),
            source=t.source,
            reason=t.reason,
            task_type=t.task_type,
            params=t.params,
            metadata=t.metadata,
        )


DEFAULT_MAX_OUTPUT = 4096
"""Output cap sent when neither the call nor the step sets one (budgets reserve against the cap sent)."""


def max_output(params: CallParams, model: ModelInfo) -> int:
    """The output-token cap an attempt on `model` is sent with (and estimated at)."""
    return min(params.max_tokens or DEFAULT_MAX_OUTPUT, model.max_output_tokens)


class OutputCaps:
    """`CallParams` with a given `max_tokens`, cached: the same few combinations recur on every call."""

    def __init__(self, size: int = 1024) -> None:
        self._size = size
        self._capped: dict[tuple[CallParams, int], CallParams] = {}

    def capped(self, params: CallParams, max_tokens: int) -> CallParams:
        if params.max_tokens == max_tokens:
            return params
        key = (params, max_tokens)
        capped = self._capped.get(key)
        if capped is None:
            if len(self._capped) >= self._size:
                self._capped.clear()
            capped = self._capped[key] = replace(params, max_tokens=max_tokens)
        return capped
