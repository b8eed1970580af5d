"""`Focal`: the composition root that wires settings, database, registry, catalogs and resolver."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine
from sqlalchemy.ext.asyncio import AsyncEngine

import focal._env  # noqa: F401
from focal.routing import AgentCatalogs, ModelRegistry, ModelResolver, OverrideRepository, load_routing_config
from focal.settings import FocalSettings
from focal.storage import make_async_engine, make_sync_engine, require_schema, upgrade

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

    @classmethod
    def open(cls, settings: FocalSettings | None = None, *, migrate: bool = False) -> Focal:
        """Load configuration and connect (no async needed).

        Args:
            settings: defaults to `FocalSettings()` (environment).
            migrate: create or upgrade the schema first (else a missing schema is an error).

        Raises:
            ConfigError: invalid models.yaml or agent catalogs.
            StorageError: database unreachable, or not migrated and `migrate` is False.
        """
        settings = settings or FocalSettings()
        registry, catalogs = load_routing_config(
            settings.resolved_config_dir, default_task_tier=settings.default_task_tier
        )
        engine = make_sync_engine(settings.resolved_database_url)
        try:
            if migrate:
                upgrade(engine)
            else:
                require_schema(engine)
        except Exception:
            engine.dispose()
            raise
        async_engine = make_async_engine(settings.resolved_database_url)
        overrides = OverrideRepository(registry, catalogs, engine=engine, async_engine=async_engine)
        resolver = ModelResolver(
            registry,
            catalogs,
            overrides,
            ttl_seconds=settings.resolver_cache_ttl_seconds,
            max_tenants=settings.resolver_cache_max_entries,
            default_task_tier=settings.default_task_tier,
        )
        return cls(
            settings=settings,
            registry=registry,
            catalogs=catalogs,
            engine=engine,
            async_engine=async_engine,
            overrides=overrides,
            resolver=resolver,
        )

    @classmethod
    async def create(cls, settings: FocalSettings | None = None, *, migrate: bool = False) -> Focal:
        """Async twin of `open` for hosts running an event loop."""
        return cls.open(settings, migrate=migrate)

    def close(self) -> None:
        """Release database connections (sync callers)."""
        self.engine.dispose()
        self.async_engine.sync_engine.dispose()

    async def aclose(self) -> None:
        """Release database connections."""
        await self.async_engine.dispose()
        self.engine.dispose()
