"""`ModelResolver`: which model runs this step, for this tenant and agent — and why.

Precedence: tenant override for the step > tenant override for `*` > the agent's catalog >
the step's task type → tier, on the agent's default provider.

With `check_credentials` (what `Focal` does), a catalog's or task default's choice whose provider the
environment gives no credentials (`ProviderConnection.missing_credentials`) is replaced, and the
resolution says so: by its first fallback that has them, else by the same tier on another provider that
has them (`CREDENTIALED_FALLBACK`), else by the same tier on the embedded local model when one is
available (`EMBEDDED_DEFAULT`). A tenant override is kept (its
reason notes the missing credentials): the tenant asked for that provider.

Resolutions are cached per tenant. A change made through the `OverrideRepository` in this
process invalidates the tenant at once; changes made by other processes are picked up when the
tenant's entry expires (`ttl_seconds`, `FOCAL_RESOLVER_CACHE_TTL_SECONDS`).

A cache-miss read that is still in flight when its tenant (or every tenant) is invalidated answers
its own call with the rows it read, but does not cache them: they may predate the change, and would
otherwise be served for the whole TTL. The next call reads again.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from focal.errors import ConfigError, NotFoundError
from focal.routing.catalogs import AgentCatalog, AgentCatalogs, StepModelConfig
from focal.routing.overrides import OverrideRepository, TenantOverride, check_tenant_id
from focal.routing.registry import ModelInfo, ModelRegistry, ProviderKind
from focal.routing.steps import ALL_STEPS, PipelineStep, to_step
from focal.routing.tasks import CustomTask, TaskType, Tier, get_tier_for_task

__all__ = ["ModelResolver", "Resolution", "ResolutionSource", "default_fallback_chain"]


class ResolutionSource(StrEnum):
    """What decided the model."""

    TENANT_OVERRIDE = "tenant_override"
    AGENT_CATALOG = "agent_catalog"
    TASK_DEFAULT = "task_default"
    CREDENTIALED_FALLBACK = "credentialed_fallback"
    """The catalog's choice has no credentials in the environment: its first fallback that has them, else
    the same tier on another provider that has them."""
    EMBEDDED_DEFAULT = "embedded_default"
    """No provider of the catalog's choice or its chain has credentials: the embedded local model, same tier."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Resolution:
    """The model (and fallbacks) for one tenant, agent and step, with the reason.

    Cached and shared between callers: treat `fallback_chain` as read-only.
    """

    tenant_id: str
    agent_id: str
    step: PipelineStep
    task_type: TaskType | CustomTask
    """The step's task; a `CustomTask` (with the same `.value`) for an unknown task on the default tier."""
    model: ModelInfo
    fallback_chain: list[ModelInfo]
    source: ResolutionSource
    reason: str
    fallback_source: str
    """`tenant_override`, `agent_catalog` or `default` (same tier elsewhere, then one tier down)."""
    temperature: float | None = None
    max_tokens: int | None = None
    timeout_seconds: float | None = None

    def __post_init__(self) -> None:
        # a resolution is cached and read many times: a generator would be empty after the first
        if not isinstance(self.fallback_chain, list):
            object.__setattr__(self, "fallback_chain", list(self.fallback_chain))


@dataclass(slots=True)
class _TenantEntry:
    expires_at: float
    overrides: dict[tuple[str, str], TenantOverride]
    resolutions: dict[tuple[str, str], Resolution] = field(default_factory=dict)


@dataclass(slots=True)
class _Reads:
    """Cache-miss reads of one tenant in flight (kept only while there is one)."""

    in_flight: int = 0
    generation: int = 0
    """Bumped by `invalidate(tenant)`: a read that began under an older generation is not cached."""


_Read = tuple[_Reads, int, int, float]
"""A read in flight: its tenant's `_Reads`, the generation, the global epoch and the clock when it began."""


_NOT_IN_DEFAULT_CHAINS = (ProviderKind.HYBRID, ProviderKind.LOCAL)


def default_fallback_chain(registry: ModelRegistry, model: ModelInfo) -> list[ModelInfo]:
    """Same tier on every other real provider (file order), then the next tier down on the same provider.

    The embedded local model (`local` kind) is in no other model's default chain: a tiny model on a
    server that may not run is no stand-in for a provider's model (name it in a chain to have it).
    """
    chain: list[ModelInfo] = []
    for provider in registry.providers():
        if provider == model.provider or registry.connection(provider).kind in _NOT_IN_DEFAULT_CHAINS:
            continue
        if registry.has(provider, model.tier):
            chain.append(registry.get(provider, model.tier))
    lower = model.tier.lower()
    if lower is not None and registry.has(model.provider, lower):
        chain.append(registry.get(model.provider, lower))
    return _dedupe(model, chain)


class ModelResolver:
    """Resolve (tenant, agent, step) to a model; `resolve` is sync, `aresolve` async, same cache."""

    def __init__(
        self,
        registry: ModelRegistry,
        catalogs: AgentCatalogs,
        overrides: OverrideRepository,
        *,
        ttl_seconds: float = 5.0,
        max_tenants: int = 200_000,
        default_task_tier: Tier | None = None,
        check_credentials: bool = False,
        embedded_provider: str | None = None,
        environ: Mapping[str, str] | None = None,
        clock=time.monotonic,  # type: ignore[no-untyped-def]
    ) -> None:
        """Args (besides the obvious):
        check_credentials: replace a catalog choice whose provider has no credentials (see the module doc).
        embedded_provider: the provider of the embedded local model (`local`), when it is available.
        environ: where credentials are looked up (default: `os.environ`, read at each cache miss).
        """
        self.registry = registry
        self.catalogs = catalogs
        self.overrides = overrides
        self._ttl = ttl_seconds
        self._max_tenants = max_tenants
        self._default_tier = default_task_tier
        self._check_credentials = check_credentials
        self._embedded = embedded_provider
        self._environ = environ
        self._clock = clock
        self._cache: dict[str, _TenantEntry] = {}
        # only the cache-miss path and `invalidate` take the lock; a hit is a plain dict lookup
        self._lock = threading.Lock()
        self._reads: dict[str, _Reads] = {}
        self._epoch = 0  # bumped by `invalidate()` (every tenant)
        overrides.add_listener(self.invalidate)

    @property
    def default_task_tier(self) -> Tier | None:
        """The tier unknown task types fall back to (None: unknown tasks are an error)."""
        return self._default_tier

    # --- public API ------------------------------------------------------------------------

    def resolve(self, tenant_id: str, agent_id: str, step: str | PipelineStep) -> Resolution:
        """The resolution for one step (reads the tenant's overrides on a cache miss).

        Raises:
            NotFoundError: unknown agent or step.
            ConfigError: malformed tenant id, or an override row that no longer resolves.
            StorageError: the database is unreachable or not migrated.
        """
        entry = self._cache.get(tenant_id)
        if entry is not None and entry.expires_at > self._clock():
            hit = entry.resolutions.get((agent_id, step))
            if hit is not None:
                return hit
        else:
            entry = None
        if entry is None:
            check_tenant_id(tenant_id)
            self.catalogs.get(agent_id)  # fail on unknown agent before touching the database
            read = self._begin_read(tenant_id)
            try:
                rows = self.overrides.for_tenant(tenant_id)
            except BaseException:
                self._abort_read(tenant_id, read)
                raise
            entry = self._end_read(tenant_id, read, rows)
        return self._resolve_into(entry, tenant_id, agent_id, step)

    async def aresolve(self, tenant_id: str, agent_id: str, step: str | PipelineStep) -> Resolution:
        """Async `resolve` (the override read does not block the event loop)."""
        entry = self._cache.get(tenant_id)
        if entry is not None and entry.expires_at > self._clock():
            hit = entry.resolutions.get((agent_id, step))
            if hit is not None:
                return hit
        else:
            entry = None
        if entry is None:
            check_tenant_id(tenant_id)
            self.catalogs.get(agent_id)
            read = self._begin_read(tenant_id)
            try:
                rows = await self.overrides.afor_tenant(tenant_id)
            except BaseException:  # CancelledError too
                self._abort_read(tenant_id, read)
                raise
            entry = self._end_read(tenant_id, read, rows)
        return self._resolve_into(entry, tenant_id, agent_id, step)

    def resolve_all(self, tenant_id: str, agent_id: str) -> list[Resolution]:
        """Every pipeline step of an agent, in pipeline order."""
        return [self.resolve(tenant_id, agent_id, step) for step in PipelineStep]

    async def aresolve_all(self, tenant_id: str, agent_id: str) -> list[Resolution]:
        """Async `resolve_all`."""
        return [await self.aresolve(tenant_id, agent_id, step) for step in PipelineStep]

    def invalidate(self, tenant_id: str | None = None, agent_id: str | None = None) -> None:
        """Forget cached resolutions of one tenant (all tenants when None).

        A read of that tenant (of any tenant, when None) still in flight is then not cached.
        """
        with self._lock:
            if tenant_id is None:
                self._epoch += 1
                self._cache.clear()
            else:
                self._cache.pop(tenant_id, None)
                reads = self._reads.get(tenant_id)
                if reads is not None:
                    reads.generation += 1

    # --- internals -------------------------------------------------------------------------

    def _begin_read(self, tenant_id: str) -> _Read:
        with self._lock:
            reads = self._reads.get(tenant_id)
            if reads is None:
                reads = self._reads[tenant_id] = _Reads()
            reads.in_flight += 1
            return reads, reads.generation, self._epoch, self._clock()

    def _abort_read(self, tenant_id: str, read: _Read) -> None:
        with self._lock:
            self._release_read(tenant_id, read[0])

    def _end_read(self, tenant_id: str, read: _Read, rows: list[TenantOverride]) -> _TenantEntry:
        """Close a read; cache its rows unless the tenant was invalidated since it began.

        Returns the entry to answer this call from, cached or not.
        """
        reads, generation, epoch, began = read
        entry = _TenantEntry(
            expires_at=began + self._ttl,  # the rows are as old as the read's start, not its end
            overrides={(r.agent_id, r.step): r for r in rows},
        )
        with self._lock:
            self._release_read(tenant_id, reads)
            if reads.generation == generation and self._epoch == epoch:
                self._cache.pop(tenant_id, None)
                while len(self._cache) >= self._max_tenants:
                    self._cache.pop(next(iter(self._cache)))  # oldest first
                self._cache[tenant_id] = entry
            return entry

    def _release_read(self, tenant_id: str, reads: _Reads) -> None:  # under self._lock
        reads.in_flight -= 1
        if reads.in_flight == 0:
            del self._reads[tenant_id]

    def _resolve_into(self, entry: _TenantEntry, tenant_id: str, agent_id: str, step: str | PipelineStep) -> Resolution:
        catalog = self.catalogs.get(agent_id)
        pipeline_step = to_step(step)
        resolution = self._compute(tenant_id, catalog, catalog.step(pipeline_step), entry.overrides)
        # keyed by the caller's spelling too: a StrEnum member does not hash like its value
        entry.resolutions[(agent_id, pipeline_step.value)] = entry.resolutions[(agent_id, step)] = resolution
        return resolution

    def _compute(
        self,
        tenant_id: str,
        catalog: AgentCatalog,
        cfg: StepModelConfig,
        overrides: dict[tuple[str, str], TenantOverride],
    ) -> Resolution:
        step = cfg.step.value
        override = overrides.get((catalog.agent_id, step)) or overrides.get((catalog.agent_id, ALL_STEPS))
        if override is not None:
            model = self._override_model(override, override.model_ref, "model_ref")
            scope = f"step={override.step!r}" if override.step != ALL_STEPS else "step='*' (all steps)"
            source = ResolutionSource.TENANT_OVERRIDE
            reason = (
                f"tenant override: tenant_model_overrides row tenant={tenant_id!r} agent={catalog.agent_id!r} "
                f"{scope} -> {override.model_ref}, changed by {override.changed_by} "
                f"at {override.updated_at.isoformat(timespec='seconds')}"
            )
        elif cfg.has_model_choice:
            assert cfg.model is not None
            model = cfg.model
            source = ResolutionSource.AGENT_CATALOG
            if cfg.model_ref is not None:
                decided = f"model: {cfg.model_ref}"
            else:
                hints = []
                if cfg.provider:
                    hints.append(f"provider: {cfg.provider}")
                if cfg.tier:
                    hints.append(f"tier: {cfg.tier.value}")
                decided = ", ".join(hints)
                if not cfg.tier:
                    decided += f" (tier {model.tier.value} from {_task_text(cfg)})"
                if not cfg.provider:
                    decided += f" (provider from default_provider {catalog.default_provider})"
            reason = f"agent catalog {catalog.source}: steps.{step} {decided}"
        else:
            tier = cfg.task_tier or get_tier_for_task(cfg.task_type, default=self._default_tier)
            model = self.registry.get(catalog.default_provider, tier)
            source = ResolutionSource.TASK_DEFAULT
            task = f"{cfg.task_type.value!r}" + (
                " (unknown task type: default tier from FOCAL_DEFAULT_TASK_TIER)" if cfg.is_custom_task else ""
            )
            reason = (
                f"task default: step {step!r} does task {task} -> tier {tier.value}, "
                f"on default_provider {catalog.default_provider!r} of {catalog.source}"
            )
        if model.ref not in reason:
            reason += f" => {model.ref}"

        if override is not None and override.fallback_chain is not None:
            chain = [self._override_model(override, ref, "fallback_chain") for ref in override.fallback_chain]
            fallback_source = "tenant_override"
        elif cfg.fallbacks is not None:
            chain = list(cfg.fallbacks)
            fallback_source = "agent_catalog"
        else:
            chain = default_fallback_chain(self.registry, model)
            fallback_source = "default"
        chain = _dedupe(model, chain)
        max_tokens = cfg.max_tokens
        if self._check_credentials:
            missing = self._missing_credentials(model)
            if missing and source is ResolutionSource.TENANT_OVERRIDE:
                reason += f" (note: {missing}: its calls will fail)"
            elif missing:
                model, chain, source, reason = self._with_credentials(model, chain, source, reason, missing)
                if max_tokens is not None:
                    max_tokens = min(max_tokens, model.max_output_tokens)
        timeout = cfg.timeout_seconds
        connection = self.registry.connection(model.provider)
        if timeout is not None and connection.kind is ProviderKind.LOCAL:
            # a step's timeout is set for the catalog's kind of model: a local model on a few cores (the
            # embedded default, or an override naming it) gets at least its provider's own
            timeout = max(timeout, connection.timeout_seconds)
        return Resolution(
            tenant_id=tenant_id,
            agent_id=catalog.agent_id,
            step=cfg.step,
            task_type=cfg.task_type,
            model=model,
            fallback_chain=chain,
            source=source,
            reason=reason,
            fallback_source=fallback_source,
            temperature=cfg.temperature,
            max_tokens=max_tokens,
            timeout_seconds=timeout,
        )

    def _missing_credentials(self, model: ModelInfo) -> str | None:
        return self.registry.connection(model.provider).missing_credentials(self._environ)

    def _with_credentials(
        self, model: ModelInfo, chain: list[ModelInfo], source: ResolutionSource, reason: str, missing: str
    ) -> tuple[ModelInfo, list[ModelInfo], ResolutionSource, str]:
        """Replace `model`, whose provider has no credentials: by its first fallback that has them, else by
        the embedded local model (same tier). Fallbacks without credentials are dropped either way."""
        usable = [m for m in chain if self._missing_credentials(m) is None]
        how = "its first fallback with credentials"
        if not usable:  # the chain has none: the same tier elsewhere (the default chain's order)
            usable = [m for m in default_fallback_chain(self.registry, model) if self._missing_credentials(m) is None]
            how = "the same tier on a provider with credentials"
        if usable:
            chosen = usable[0]
            return (
                chosen,
                usable[1:],
                ResolutionSource.CREDENTIALED_FALLBACK,
                f"{missing}: {model.ref} -> {chosen.ref}, {how}; {reason}",
            )
        tier = model.tier
        if self._embedded is None or not self.registry.has(self._embedded, tier):
            return model, chain, source, f"{reason} (note: {missing}: its calls will fail)"
        local = self.registry.get(self._embedded, tier)
        fallbacks = [m for m in default_fallback_chain(self.registry, local) if self._missing_credentials(m) is None]
        return (
            local,
            _dedupe(local, fallbacks),
            ResolutionSource.EMBEDDED_DEFAULT,
            f"{missing}: {model.provider}:{tier.value} -> {local.provider}:{tier.value} (embedded default, "
            f"{local.ref}) instead of {model.ref}; {reason}",
        )

    def _override_model(self, override: TenantOverride, ref: str, column: str) -> ModelInfo:
        try:
            return self.registry.parse_ref(ref)
        except (ConfigError, NotFoundError) as exc:
            detail = exc.detail if isinstance(exc, ConfigError) else str(exc)
            raise ConfigError(
                f"tenant_model_overrides row tenant={override.tenant_id!r} agent={override.agent_id!r} "
                f"step={override.step!r}: {column} no longer resolves ({detail}); "
                "fix it with `focal overrides set` or `focal overrides remove`",
                key=column,
            ) from None


def _task_text(cfg: StepModelConfig) -> str:
    if cfg.is_custom_task:
        return f"the default tier for unknown task type {cfg.task_type.value} (FOCAL_DEFAULT_TASK_TIER)"
    return f"task type {cfg.task_type.value}"


def _dedupe(primary: ModelInfo, chain: list[ModelInfo]) -> list[ModelInfo]:
    seen = {primary.ref}
    out = []
    for m in chain:
        if m.ref not in seen:
            seen.add(m.ref)
            out.append(m)
    return out
