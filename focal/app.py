"""`Focal`: the composition root — settings, database, registry, catalogs, resolver, budgets,
telemetry and the resilient executor, wired once per process."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

from focal.alignment import TurnInput, TurnResult
from focal.alignment.audit import TurnStore
from focal.alignment.leases import SessionLeases
from focal.alignment.store import AlignmentStore
from focal.errors import ConfigError
from focal.execution import (
    AgnoExecutor,
    BreakerPolicy,
    BudgetManager,
    CircuitBreakers,
    CostLimits,
    LimitAction,
    ModelFactory,
    ResilientExecutor,
    RetryPolicy,
)
from focal.local import LocalModelServer, Progress, acquire_shared_server, local_model_available, release_shared_server
from focal.logging import configure_logging as configure_structlog
from focal.providers import build_model
from focal.routing import (
    AgentCatalogs,
    ModelRegistry,
    ModelResolver,
    OverrideRepository,
    ProviderKind,
    load_routing_config,
)
from focal.settings import FocalSettings
from focal.storage import backend, make_async_engine, make_sync_engine, require_schema, upgrade
from focal.telemetry import RunTracker, TelemetryStore

if TYPE_CHECKING:
    from focal.workflows import AlignmentWorkflow

__all__ = ["Focal"]


@dataclass(kw_only=True)
class Focal:
    """Focal's services for one process. Build with `Focal.open()` (sync) or `await Focal.create()`."""

    settings: FocalSettings
    registry: ModelRegistry
    catalogs: AgentCatalogs
    engine: Engine
    async_engine: AsyncEngine
    overrides: OverrideRepository
    resolver: ModelResolver
    budgets: BudgetManager
    executor: ResilientExecutor
    telemetry: TelemetryStore
    runs: RunTracker
    """`with focal.runs.track(tenant_id=..., agent_id=..., workflow_name=...) as run:`"""
    _alignment: AlignmentStore | None = field(default=None, init=False, repr=False)
    _turns: TurnStore | None = field(default=None, init=False, repr=False)
    _workflow: AlignmentWorkflow | None = field(default=None, init=False, repr=False)
    _local_server: LocalModelServer | None = field(default=None, init=False, repr=False)
    _local_start: asyncio.Lock = field(default_factory=asyncio.Lock, init=False, repr=False)

    @classmethod
    def open(
        cls,
        settings: FocalSettings | None = None,
        *,
        migrate: bool | None = None,
        model_factory: ModelFactory = build_model,
        retry: RetryPolicy | None = None,
        breakers: CircuitBreakers | None = None,
        cost_limits: CostLimits | None = None,
        configure_logging: bool = False,
    ) -> Focal:
        """Load configuration and connect (no async needed); the same as `create` otherwise.

        Focal leaves the host's process as it found it: no environment variable is set, and logging
        is not configured unless asked (Focal's log lines follow the host's structlog or stdlib
        `logging` setup). Every Agno object Focal builds has Agno telemetry off.

        Args:
            settings: defaults to `FocalSettings()` (environment).
            migrate: create or upgrade the schema first; False: a missing schema is an error;
                None (the default): migrate the embedded SQLite database, but never PostgreSQL
                (run `focal db upgrade`).
            model_factory: builds the Agno model per registry model (tests pass fakes).
            retry, breakers, cost_limits: replace the ones built from the settings
                (`FOCAL_RETRY_*`, `FOCAL_BREAKER_*`, `FOCAL_RUN_COST_LIMIT_USD`, `FOCAL_STEP_COST_LIMIT_USD`,
                `FOCAL_COST_LIMIT_ACTION`), e.g. for per-step limits by name.
            configure_logging: configure structlog for the whole process from `settings.log_format`
                and `settings.log_level`, as the `focal` CLI does (for hosts that leave logging to
                Focal); by default the host's logging setup is left alone.

        Raises:
            ConfigError: invalid models.yaml or agent catalogs, or an unusable `database_url`
                (an in-memory SQLite database).
            StorageError: database unreachable, not migrated (and not migrated here), or migrated by
                a newer Focal.
        """
        settings = settings or FocalSettings()
        FocalSettings.check_database_url(settings.resolved_database_url)  # settings may be changed after validation
        if configure_logging:
            configure_structlog(settings.log_format, settings.log_level)
        registry, catalogs = load_routing_config(
            settings.resolved_config_dir, default_task_tier=settings.default_task_tier
        )
        engine = make_sync_engine(settings.resolved_database_url, pre_ping=settings.db_pre_ping)
        if migrate is None:
            migrate = backend(settings.resolved_database_url) == "sqlite"
        try:
            if migrate:
                upgrade(engine)
            else:
                require_schema(engine)
        except Exception:
            engine.dispose()
            raise
        try:
            async_engine = make_async_engine(settings.resolved_database_url, pre_ping=settings.db_pre_ping)
        except Exception:
            engine.dispose()
            raise
        try:
            return cls._assemble(
                settings,
                registry,
                catalogs,
                engine,
                async_engine,
                model_factory=model_factory,
                retry=retry,
                breakers=breakers,
                cost_limits=cost_limits,
            )
        except Exception:
            engine.dispose()
            async_engine.sync_engine.dispose()
            raise

    @classmethod
    def _assemble(
        cls,
        settings: FocalSettings,
        registry: ModelRegistry,
        catalogs: AgentCatalogs,
        engine: Engine,
        async_engine: AsyncEngine,
        *,
        model_factory: ModelFactory,
        retry: RetryPolicy | None,
        breakers: CircuitBreakers | None,
        cost_limits: CostLimits | None,
    ) -> Focal:
        overrides = OverrideRepository(registry, catalogs, engine=engine, async_engine=async_engine)
        resolver = ModelResolver(
            registry,
            catalogs,
            overrides,
            ttl_seconds=settings.resolver_cache_ttl_seconds,
            max_tenants=settings.resolver_cache_max_entries,
            default_task_tier=settings.default_task_tier,
            check_credentials=settings.embedded_default,
            embedded_provider=_embedded_provider(registry, settings),
        )
        telemetry = TelemetryStore(async_engine, spill_dir=settings.data_dir / "telemetry-spill")
        runs = RunTracker(telemetry)
        budgets = BudgetManager(async_engine, ttl_seconds=settings.resolver_cache_ttl_seconds)
        executor = ResilientExecutor(
            AgnoExecutor(registry, model_factory=model_factory),
            resolver,
            retry=retry
            or RetryPolicy(max_attempts=settings.retry_max_attempts, max_delay=settings.retry_max_delay_seconds),
            breakers=breakers
            or CircuitBreakers(
                BreakerPolicy(
                    failure_threshold=settings.breaker_failure_threshold,
                    window_seconds=settings.breaker_window_seconds,
                    cooldown_seconds=settings.breaker_cooldown_seconds,
                )
            ),
            budgets=budgets,
            cost_limits=cost_limits
            or CostLimits(
                per_run_usd=settings.run_cost_limit_usd,
                per_step_usd=settings.step_cost_limit_usd,
                on_limit=LimitAction(settings.cost_limit_action),
            ),
            recorder=runs.record_call,
            stall_timeout_seconds=settings.stall_timeout_seconds,
        )
        return cls(
            settings=settings,
            registry=registry,
            catalogs=catalogs,
            engine=engine,
            async_engine=async_engine,
            overrides=overrides,
            resolver=resolver,
            budgets=budgets,
            executor=executor,
            telemetry=telemetry,
            runs=runs,
        )

    @classmethod
    async def create(
        cls,
        settings: FocalSettings | None = None,
        *,
        migrate: bool | None = None,
        model_factory: ModelFactory = build_model,
        retry: RetryPolicy | None = None,
        breakers: CircuitBreakers | None = None,
        cost_limits: CostLimits | None = None,
        configure_logging: bool = False,
    ) -> Focal:
        """Async twin of `open` for hosts running an event loop (embedded SQLite is migrated on the way).

        Loading the configuration and migrating the database block, so they run in a worker thread:
        the host's event loop keeps serving meanwhile. A worker thread cannot be stopped: when the
        caller is cancelled (or times out), `create` waits for the thread, closes the `Focal` it
        built, and then lets the cancellation through, so no database connection is left open.
        """
        opening = asyncio.ensure_future(
            asyncio.to_thread(
                cls.open,
                settings,
                migrate=migrate,
                model_factory=model_factory,
                retry=retry,
                breakers=breakers,
                cost_limits=cost_limits,
                configure_logging=configure_logging,
            )
        )
        try:
            return await asyncio.shield(opening)
        except asyncio.CancelledError:
            await _close_when_opened(opening)
            raise

    @property
    def alignment(self) -> AlignmentStore:
        """The tenants' alignment configurations (`focal config import` writes them), built on first use."""
        if self._alignment is None:
            from focal.tools import shipped_catalog

            self._alignment = AlignmentStore(
                shipped_catalog(),
                engine=self.engine,
                async_engine=self.async_engine,
                ttl_seconds=self.settings.resolver_cache_ttl_seconds,
            )
        return self._alignment

    @property
    def turns(self) -> TurnStore:
        """The turns' audit records (`focal audit show`)."""
        if self._turns is None:
            self._turns = TurnStore(engine=self.engine, async_engine=self.async_engine)
        return self._turns

    @property
    def workflow(self) -> AlignmentWorkflow:
        """The one alignment workflow of this process, shared by every tenant (built on first use).

            out = await focal.workflow.arun(
                input=TurnInput(message="Where is my order?"),
                session_id=focal.session_id("acme", "support", "conv-1"),
                user_id="u-42",
                session_state={"tenant_id": "acme", "agent_id": "support"},
            )
            out.content  # TurnResult

        Its sessions are Agno sessions in Focal's database; its calls go through `executor`, its runs
        and calls are recorded in `telemetry`, its turns in `turns`.
        """
        if self._workflow is None:
            from focal.storage import create_agno_db
            from focal.tools import shipped_registry
            from focal.workflows import SessionLocks, TurnServices, build_alignment_workflow

            services = TurnServices(
                executor=self.executor,
                alignment=self.alignment,
                tools=shipped_registry(self.async_engine),
                turns=self.turns,
                runs=self.runs,
                budgets=self.budgets,
                turn_timeout_seconds=self.settings.turn_timeout_seconds,
                max_regenerations=self.settings.max_regenerations,
            )
            self._workflow = build_alignment_workflow(
                services,
                db=create_agno_db(self.settings.resolved_database_url, db_engine=self.async_engine),
                session_locks=SessionLocks(
                    wait_seconds=self.settings.session_wait_seconds,
                    leases=SessionLeases(self.async_engine, ttl_seconds=self.settings.turn_timeout_seconds + 60),
                ),
            )
        return self._workflow

    @staticmethod
    def session_id(tenant_id: str, agent_id: str, conversation_id: str) -> str:
        """The tenant-namespaced Agno session id of one conversation (`<tenant>:<agent>:<conversation>`).

        Raises:
            ConfigError: an empty part, a tenant or agent id containing `:`, or an over-long conversation id.
        """
        from focal.workflows import session_id

        return session_id(tenant_id, agent_id, conversation_id)

    async def turn(
        self,
        tenant_id: str,
        agent_id: str,
        conversation_id: str,
        message: str,
        *,
        user_id: str | None = None,
        metadata: dict[str, str] | None = None,
    ) -> TurnResult:
        """One turn of a conversation through `workflow` (the short form of `workflow.arun`).

        The tenant and agent are the host's: they go into the run's `session_state`, never taken
        from the message or a model.

        Raises:
            SessionOwnershipError: the conversation's session belongs to another tenant or agent.
            SessionBusyError: another turn of the conversation did not finish in `session_wait_seconds`.
            (and the typed error of the step that failed: `ProviderError`, `BudgetExceeded`, a tool error...)
            asyncio.CancelledError: the caller cancelled the turn (if that happened as the turn was being
                recorded, the turn stands in the session and the audit, and the next one follows it).
        """
        session = self.session_id(tenant_id, agent_id, conversation_id)
        out = await self.workflow.arun(
            input=TurnInput(message=message, conversation_id=conversation_id, metadata=metadata or {}),
            session_id=session,
            user_id=user_id,
            session_state={"tenant_id": tenant_id, "agent_id": agent_id},
        )
        task = asyncio.current_task()
        if task is not None and task.cancelling():  # a step absorbed the caller's cancellation: honour it
            raise asyncio.CancelledError
        result = out.content
        if not isinstance(result, TurnResult):  # a failed step raises; anything else is a defect
            raise RuntimeError(f"the alignment workflow ended without a TurnResult (status {out.status})")
        return result

    @property
    def local_server(self) -> LocalModelServer | None:
        """The local model server `start_local_model` started for this `Focal` (None: not started, or a
        server named by the environment is used)."""
        return self._local_server

    async def start_local_model(self, progress: Progress | None = None) -> str:
        """Make sure the `local` provider's server answers, and return its base URL.

        When `FOCAL_LOCAL_BASE_URL` / `LLAMA_CPP_BASE_URL` names a server, that one is used as it is.
        Otherwise this process's shared `LocalModelServer` is started (the bundled model, or the file of
        `FOCAL_LOCAL_MODEL_PATH`; 1-2 s on 2 cores) and the `local` provider is pointed at it until
        `close()` / `aclose()`. Calls never start it: a host calls this when a resolution is on `local`
        (`Resolution.source` `EMBEDDED_DEFAULT`, or a catalog or override naming `local`).

        Args:
            progress: called with a status line while the server starts (e.g. for a spinner).

        Raises:
            ConfigError: models.yaml has no local provider with a model.
            LocalModelMissing: the `local` extra (`pip install 'focal[local]'`) or the model file is missing.
            LocalModelError: the server exited while starting (its stderr included) or did not answer in time.
        """
        provider = _local_provider(self.registry)
        if provider is None:
            raise ConfigError("no provider of kind 'local' with a model in models.yaml", path=self.registry.source)
        configured = self.registry.connection(provider).base_url_from_env()
        if configured:
            return configured
        async with self._local_start:  # two concurrent callers: one start, one user of the shared server
            if self._local_server is None:
                server = acquire_shared_server(self.settings.local_model_path)
                try:
                    await server.astart(progress)
                except BaseException:
                    release_shared_server(server)
                    raise
                self._local_server = server
                self.registry.point_at(provider, server.base_url)
                await self.executor.caller.aclose()  # models built before were aimed at another URL
            return self._local_server.base_url

    def _release_local_server(self) -> None:
        server, self._local_server = self._local_server, None
        if server is None:
            return
        provider = _local_provider(self.registry)
        if provider is not None:
            self.registry.point_at(provider, None)
        release_shared_server(server)  # the last user of the process's server stops it

    def close(self) -> None:
        """Release database connections (sync callers; telemetry still queued is spilled to JSONL and
        replayed by the next `Focal`), and stop the local model server this `Focal` started."""
        self.telemetry.close_sync()
        self.engine.dispose()
        self.async_engine.sync_engine.dispose()
        self._release_local_server()

    async def aclose(self) -> None:
        """Finish budget bookkeeping of cancelled calls, close provider HTTP connections, flush telemetry,
        release database connections, then stop the local model server this `Focal` started."""
        try:
            await self.executor.drain()
            await self.executor.caller.aclose()
            await self.telemetry.aclose()
            await self.async_engine.dispose()
            self.engine.dispose()
        finally:
            await asyncio.to_thread(self._release_local_server)


def _local_provider(registry: ModelRegistry) -> str | None:
    """The first provider of kind `local` that lists a model."""
    for name in registry.providers():
        if registry.connection(name).kind is ProviderKind.LOCAL and registry.models(name):
            return name
    return None


def _embedded_provider(registry: ModelRegistry, settings: FocalSettings) -> str | None:
    """The local provider when the embedded default can use it: a server named by the environment, or
    the `local` extra installed (with the model file)."""
    provider = _local_provider(registry)
    if provider is None or not settings.embedded_default:
        return None
    if registry.connection(provider).base_url_from_env() or local_model_available(settings.local_model_path):
        return provider
    return None


async def _close_when_opened(opening: asyncio.Future[Focal]) -> None:
    """Wait for a `Focal` still being opened in a worker thread, then close it (the caller was cancelled).

    Further cancellations while waiting are absorbed: the caller re-raises its own cancellation
    right after, and leaving early would leave the thread's connections open.
    """
    await _settle(opening)
    if opening.cancelled() or opening.exception() is not None:
        return  # opening failed: `open` released what it had made
    closing = asyncio.ensure_future(opening.result().aclose())
    await _settle(closing)
    if not closing.cancelled():
        closing.exception()  # retrieved: a failed close must not mask the cancellation


async def _settle(future: asyncio.Future[Any]) -> None:
    """Wait until `future` is done, whatever cancellations arrive meanwhile."""
    while not future.done():
        try:
            await asyncio.wait([future])
        except asyncio.CancelledError:
            continue
