"""`AlignmentStore`: import, publish, version and load agents' configurations per tenant.

- Import validates everything first (nothing is written if anything is wrong), then in one transaction
  writes the version (content-addressed: the same content is one version) and points the (tenant,
  agent) at it. Concurrent imports of one (tenant, agent) serialize on that pointer row: each ends
  published in turn, the last one to commit is served.
- Versions are immutable and stay readable: a session pinned to one keeps working after a newer one
  is published.
- `load(tenant, agent, version=None)` returns a compiled, indexed `AlignmentConfig`. Versions are
  cached (they never change); which version is *current* is cached for `ttl_seconds`: a publication
  in this process is seen at once, one made by another process within the TTL (the resolver's promise).
"""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from sqlalchemy import Connection, Engine, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncEngine

from focal.alignment.cache import ConfigCache
from focal.alignment.config import AlignmentConfig, compile_config
from focal.alignment.document import AlignmentDocument
from focal.alignment.folder import read_folder, write_folder
from focal.alignment.tool_catalog import ToolCatalog
from focal.alignment.validation import validate_document
from focal.errors import ConfigError, NotFoundError
from focal.routing.overrides import check_changed_by, check_tenant_id
from focal.storage import UnitRunner
from focal.storage.alignment_tables import AlignmentCurrent, AlignmentVersion
from focal.storage.tables import utcnow

__all__ = ["AlignmentStore", "ImportResult", "VersionInfo"]

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class ImportResult:
    tenant_id: str
    agent_id: str
    version: str
    previous_version: str | None
    created: bool
    """False when this content was imported before (the version existed; it is published again)."""
    generation: int


@dataclass(frozen=True, slots=True)
class VersionInfo:
    tenant_id: str
    agent_id: str
    version: str
    rule_count: int
    scenario_count: int
    source: str
    created_by: str
    created_at: dt.datetime
    current: bool


class AlignmentStore:
    """Alignment configurations in Focal's database (`alignment_versions`, `alignment_current`)."""

    def __init__(
        self,
        catalog: ToolCatalog,
        *,
        engine: Engine | None = None,
        async_engine: AsyncEngine | None = None,
        ttl_seconds: float = 5.0,
        cache_size: int = 512,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.catalog = catalog
        self._units = UnitRunner("AlignmentStore", engine, async_engine)
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        self._configs: ConfigCache[AlignmentConfig] = ConfigCache(cache_size)
        self._current: dict[tuple[str, str], tuple[str, float]] = {}
        self._lock = threading.Lock()

    def _sync(self, work: Callable[[Connection], T], *, write: bool = False) -> T:
        return self._units.run(work, write=write)

    async def _async(self, work: Callable[[Connection], T], *, write: bool = False) -> T:
        return await self._units.arun(work, write=write)

    # --- import / publish --------------------------------------------------------------------

    def prepare(self, folder: Path | str, *, agent_id: str | None = None) -> AlignmentDocument:
        """Read and validate a folder (nothing is written). `agent_id` imports it under another agent id.

        Raises:
            ConfigError: every problem, with file, key path and line.
        """
        document, sources = read_folder(Path(folder))
        if agent_id is not None and agent_id != document.agent_id:
            profile = document.profile.model_copy(update={"agent_id": agent_id})
            document = AlignmentDocument.model_validate({**document.model_dump(), "profile": profile.model_dump()})
        validate_document(document, self.catalog, sources)
        return document

    def import_folder(
        self, folder: Path | str, tenant_id: str, *, agent_id: str | None = None, created_by: str
    ) -> ImportResult:
        """Validate `folder`, store it as a version for `tenant_id` and publish it (one transaction)."""
        document = self.prepare(folder, agent_id=agent_id)
        return self.publish(document, tenant_id, created_by=created_by, source=str(folder))

    async def aimport_folder(
        self, folder: Path | str, tenant_id: str, *, agent_id: str | None = None, created_by: str
    ) -> ImportResult:
        document = self.prepare(folder, agent_id=agent_id)
        return await self.apublish(document, tenant_id, created_by=created_by, source=str(folder))

    def publish(self, document: AlignmentDocument, tenant_id: str, *, created_by: str, source: str) -> ImportResult:
        """Store `document` (if new) and make it the version `tenant_id` serves for its agent."""
        work = self._publication(document, tenant_id, created_by, source)
        result = self._sync(work, write=True)
        self._published(result)
        return result

    async def apublish(
        self, document: AlignmentDocument, tenant_id: str, *, created_by: str, source: str
    ) -> ImportResult:
        work = self._publication(document, tenant_id, created_by, source)
        result = await self._async(work, write=True)
        self._published(result)
        return result

    def _publication(
        self, document: AlignmentDocument, tenant_id: str, created_by: str, source: str
    ) -> Callable[[Connection], ImportResult]:
        check_tenant_id(tenant_id)
        check_changed_by(created_by)
        validate_document(document, self.catalog)  # a document built in code is checked too
        version, agent_id, now = document.version, document.agent_id, utcnow()
        payload = document.canonical()

        def work(conn: Connection) -> ImportResult:
            insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            # A write first: SQLite takes its write lock here (a read first could not upgrade under a
            # concurrent writer); PostgreSQL then locks the pointer row, which serializes publications.
            created = conn.execute(
                insert(AlignmentVersion)
                .values(
                    tenant_id=tenant_id,
                    agent_id=agent_id,
                    version=version,
                    document=payload,
                    rule_count=len(document.rules),
                    scenario_count=len(document.scenarios),
                    source=source[:1024],
                    created_by=created_by,
                    created_at=now,
                )
                .on_conflict_do_nothing(index_elements=["tenant_id", "agent_id", "version"])
                .returning(AlignmentVersion.version)
            ).scalar_one_or_none()
            previous = conn.execute(
                select(AlignmentCurrent.version)
                .where(AlignmentCurrent.tenant_id == tenant_id, AlignmentCurrent.agent_id == agent_id)
                .with_for_update()
            ).scalar_one_or_none()
            pointer = insert(AlignmentCurrent).values(
                tenant_id=tenant_id,
                agent_id=agent_id,
                version=version,
                generation=1,
                published_by=created_by,
                published_at=now,
            )
            generation = conn.execute(
                pointer.on_conflict_do_update(
                    index_elements=["tenant_id", "agent_id"],
                    set_={
                        "version": version,
                        "generation": AlignmentCurrent.generation + 1,
                        "published_by": created_by,
                        "published_at": now,
                    },
                ).returning(AlignmentCurrent.generation)
            ).scalar_one()
            return ImportResult(tenant_id, agent_id, version, previous, created is not None, generation)

        return work

    def _published(self, result: ImportResult) -> None:
        with self._lock:
            self._current[(result.tenant_id, result.agent_id)] = (result.version, self._clock() + self.ttl_seconds)

    # --- reading -------------------------------------------------------------------------------

    def load(self, tenant_id: str, agent_id: str, version: str | None = None) -> AlignmentConfig:
        """The compiled configuration `tenant_id` serves for `agent_id` (or the given `version`).

        Raises:
            NotFoundError: nothing was imported for this tenant and agent, or no such version.
            ConfigError: the stored version no longer validates (e.g. a tool it binds is gone).
        """
        cached = self._cached(tenant_id, agent_id, version)
        if cached is not None:
            return cached
        return self._remember(tenant_id, agent_id, version, self._sync(self._reader(tenant_id, agent_id, version)))

    async def aload(self, tenant_id: str, agent_id: str, version: str | None = None) -> AlignmentConfig:
        cached = self._cached(tenant_id, agent_id, version)
        if cached is not None:
            return cached
        row = await self._async(self._reader(tenant_id, agent_id, version))
        return self._remember(tenant_id, agent_id, version, row)

    def _cached(self, tenant_id: str, agent_id: str, version: str | None) -> AlignmentConfig | None:
        if version is None:
            current = self._current.get((tenant_id, agent_id))
            if current is None or current[1] <= self._clock():
                return None
            version = current[0]
        return self._configs.get(tenant_id, agent_id, version)

    def _reader(
        self, tenant_id: str, agent_id: str, version: str | None
    ) -> Callable[[Connection], tuple[str, dict[str, Any] | None]]:
        check_tenant_id(tenant_id)
        started = self._clock()

        def work(conn: Connection) -> tuple[str, dict[str, Any] | None, float]:  # type: ignore[misc]
            wanted = version
            if wanted is None:
                wanted = conn.execute(
                    select(AlignmentCurrent.version).where(
                        AlignmentCurrent.tenant_id == tenant_id, AlignmentCurrent.agent_id == agent_id
                    )
                ).scalar_one_or_none()
                if wanted is None:
                    raise NotFoundError(f"tenant {tenant_id!r} has no configuration for agent {agent_id!r}")
            key = (tenant_id, agent_id, wanted)
            if key in self._configs:
                return wanted, None, started
            document = conn.execute(
                select(AlignmentVersion.document).where(
                    AlignmentVersion.tenant_id == tenant_id,
                    AlignmentVersion.agent_id == agent_id,
                    AlignmentVersion.version == wanted,
                )
            ).scalar_one_or_none()
            if document is None:
                raise NotFoundError(f"tenant {tenant_id!r}, agent {agent_id!r}: no version {wanted!r}")
            return wanted, document, started

        return work  # type: ignore[return-value]

    def _remember(self, tenant_id: str, agent_id: str, asked: str | None, row: Any) -> AlignmentConfig:
        version, payload, started = row
        key = (tenant_id, agent_id, version)
        config = self._configs.get(*key)
        if config is None:
            assert payload is not None
            document = AlignmentDocument.model_validate(payload)
            if document.version != version:
                raise ConfigError(f"tenant {tenant_id!r}, agent {agent_id!r}: stored version {version} is corrupt")
            try:
                expressions = validate_document(document, self.catalog)
            except ConfigError as exc:
                raise ConfigError(
                    f"tenant {tenant_id!r}, agent {agent_id!r}, version {version} no longer validates: {exc}"
                ) from None
            config = compile_config(document, tenant_id, expressions)
            self._configs.put(*key, config)
        if asked is None:
            with self._lock:
                # the TTL runs from when the read began: a publication during the read is not hidden for long
                self._current[(tenant_id, agent_id)] = (version, started + self.ttl_seconds)
        return config

    def invalidate(self, tenant_id: str | None = None) -> None:
        """Forget which version is current (all tenants, or one): the next load reads it again."""
        with self._lock:
            for key in [k for k in self._current if tenant_id is None or k[0] == tenant_id]:
                del self._current[key]

    def versions(self, tenant_id: str, agent_id: str) -> list[VersionInfo]:
        """Every stored version, newest first, marking the current one."""
        check_tenant_id(tenant_id)

        def work(conn: Connection) -> list[VersionInfo]:
            current = conn.execute(
                select(AlignmentCurrent.version).where(
                    AlignmentCurrent.tenant_id == tenant_id, AlignmentCurrent.agent_id == agent_id
                )
            ).scalar_one_or_none()
            v = AlignmentVersion
            rows = conn.execute(
                select(
                    v.tenant_id,
                    v.agent_id,
                    v.version,
                    v.rule_count,
                    v.scenario_count,
                    v.source,
                    v.created_by,
                    v.created_at,
                )
                .where(v.tenant_id == tenant_id, v.agent_id == agent_id)
                .order_by(v.created_at.desc(), v.version)
            )
            return [
                VersionInfo(
                    r.tenant_id,
                    r.agent_id,
                    r.version,
                    r.rule_count,
                    r.scenario_count,
                    r.source,
                    r.created_by,
                    r.created_at,
                    r.version == current,
                )
                for r in rows
            ]

        return self._sync(work)

    def export_folder(self, tenant_id: str, agent_id: str, folder: Path | str, version: str | None = None) -> str:
        """Write a stored version (default: the current one) as a folder; returns its version."""
        config = self.load(tenant_id, agent_id, version)
        write_folder(config.document, Path(folder))
        return config.version
