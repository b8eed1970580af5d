"""Tenant model overrides: the SQL table `tenant_model_overrides` and its repository.

A row says: for this tenant and agent, run this step (or every step, `"*"`) on this model, with
this fallback chain. `fallback_chain=None` keeps the catalog's chain; `[]` means no fallbacks.
Every write is validated against the registry and the agent catalogs, and logged in
`tenant_model_override_changes` in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from sqlalchemy import Engine, select
from sqlalchemy.exc import IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from focal.errors import ConfigError, NotFoundError, OverrideExistsError, StorageError
from focal.routing._chains import resolve_chain
from focal.routing.catalogs import AgentCatalogs
from focal.routing.registry import ModelRegistry
from focal.routing.steps import ALL_STEPS, to_step
from focal.storage.tables import TenantModelOverride, TenantModelOverrideChange, utcnow

__all__ = ["OverrideRepository", "TenantOverride"]

_TENANT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}$")

Listener = Callable[[str, str], None]
"""Called with (tenant_id, agent_id) after a committed change."""


@dataclass(frozen=True, slots=True, kw_only=True)
class TenantOverride:
    """One override row."""

    tenant_id: str
    agent_id: str
    step: str
    model_ref: str
    fallback_chain: tuple[str, ...] | None
    created_at: dt.datetime
    updated_at: dt.datetime
    changed_by: str

    def __post_init__(self) -> None:
        # a chain given as a generator would be empty the second time it is read
        if self.fallback_chain is not None and not isinstance(self.fallback_chain, tuple):
            object.__setattr__(self, "fallback_chain", tuple(self.fallback_chain))

    @classmethod
    def _from_row(cls, row: TenantModelOverride) -> TenantOverride:
        return cls(
            tenant_id=row.tenant_id,
            agent_id=row.agent_id,
            step=row.step,
            model_ref=row.model_ref,
            fallback_chain=tuple(row.fallback_chain) if row.fallback_chain is not None else None,
            created_at=row.created_at,
            updated_at=row.updated_at,
            changed_by=row.changed_by,
        )


def check_tenant_id(tenant_id: str) -> str:
    """Validate a tenant id (1-128 chars: letters, digits, `._:@-`).

    Raises:
        ConfigError: the id is empty or malformed.
    """
    if not isinstance(tenant_id, str) or not _TENANT_ID.match(tenant_id):
        raise ConfigError(f"invalid tenant id {tenant_id!r}: use 1-128 letters, digits or ._:@-", key="tenant_id")
    return tenant_id


class OverrideRepository:
    """set / get / list / remove tenant overrides; sync methods and `a`-prefixed async twins."""

    def __init__(
        self,
        registry: ModelRegistry,
        catalogs: AgentCatalogs,
        *,
        engine: Engine | None = None,
        async_engine: AsyncEngine | None = None,
    ) -> None:
        if engine is None and async_engine is None:
            raise ValueError("OverrideRepository needs an engine, an async engine, or both")
        self._registry = registry
        self._catalogs = catalogs
        self._engine = engine
        self._async_engine = async_engine
        self._listeners: list[Listener] = []

    def add_listener(self, listener: Listener) -> None:
        """Be told (tenant_id, agent_id) after every committed change (resolver cache invalidation)."""
        self._listeners.append(listener)

    # --- validation ------------------------------------------------------------------------

    def _validate(
        self, tenant_id: str, agent_id: str, step: str, model_ref: str, fallback_chain: Iterable[str] | None
    ) -> tuple[str, str, tuple[str, ...] | None]:
        check_tenant_id(tenant_id)
        self._catalogs.get(agent_id)
        step = self._check_step(step)
        try:
            primary = self._registry.parse_ref(model_ref)
        except ConfigError as exc:
            raise ConfigError(exc.detail, key="model_ref") from None
        except NotFoundError as exc:
            raise ConfigError(str(exc), key="model_ref") from None
        chain: tuple[str, ...] | None = None
        if fallback_chain is not None:
            if isinstance(fallback_chain, str):
                raise ConfigError("fallback_chain must be a list of model references", key="fallback_chain")
            chain = tuple(fallback_chain)  # read once: a generator is validated and stored whole
            _, problems = resolve_chain(self._registry, primary, chain)
            if problems:
                raise ConfigError.from_problems([ConfigError(msg, key=f"fallback_chain[{i}]") for i, msg in problems])
        return step, model_ref, chain

    @staticmethod
    def _check_step(step: str) -> str:
        return ALL_STEPS if step == ALL_STEPS else to_step(step).value

    # --- sync ------------------------------------------------------------------------------

    def set(
        self,
        tenant_id: str,
        agent_id: str,
        step: str,
        model_ref: str,
        *,
        fallback_chain: Iterable[str] | None = None,
        changed_by: str = "api",
        replace: bool = True,
    ) -> TenantOverride:
        """Create or replace an override.

        Args:
            tenant_id: the tenant.
            agent_id: an agent with a catalog.
            step: a pipeline step, or `"*"` for every step of the agent.
            model_ref: `provider:tier` or `provider/model-id`.
            fallback_chain: model references tried in order (any iterable, read once and stored as
                a tuple); None keeps the catalog's chain, empty means no fallbacks.
            changed_by: who made the change (audit trail).
            replace: False refuses to replace an existing override.

        Raises:
            ConfigError: malformed tenant id or reference, or a fallback cycle.
            NotFoundError: unknown agent or step.
            OverrideExistsError: one exists and `replace=False`.
            StorageError: the database is unreachable or not migrated.
        """
        step, model_ref, chain = self._validate(tenant_id, agent_id, step, model_ref, fallback_chain)
        result = self._sync(lambda s: _set(s, tenant_id, agent_id, step, model_ref, chain, changed_by, replace))
        self._notify(tenant_id, agent_id)
        return result

    def get(self, tenant_id: str, agent_id: str, step: str) -> TenantOverride | None:
        """The override of one (tenant, agent, step), or None."""
        step = self._check_step(step)
        return self._sync(lambda s: _get(s, tenant_id, agent_id, step))

    def list(self, tenant_id: str | None = None, agent_id: str | None = None) -> list[TenantOverride]:
        """Overrides, optionally of one tenant and/or agent, ordered by tenant, agent, step."""
        return self._sync(lambda s: _list(s, tenant_id, agent_id))

    def remove(self, tenant_id: str, agent_id: str, step: str, *, changed_by: str = "api") -> bool:
        """Delete an override; False if there was none."""
        step = self._check_step(step)
        removed = self._sync(lambda s: _remove(s, tenant_id, agent_id, step, changed_by))
        if removed:
            self._notify(tenant_id, agent_id)
        return removed

    def for_tenant(self, tenant_id: str) -> list[TenantOverride]:
        """Every override of one tenant (what the resolver loads on a cache miss)."""
        return self._sync(lambda s: _list(s, tenant_id, None))

    # --- async -----------------------------------------------------------------------------

    async def aset(
        self,
        tenant_id: str,
        agent_id: str,
        step: str,
        model_ref: str,
        *,
        fallback_chain: Iterable[str] | None = None,
        changed_by: str = "api",
        replace: bool = True,
    ) -> TenantOverride:
        """Async `set`."""
        step, model_ref, chain = self._validate(tenant_id, agent_id, step, model_ref, fallback_chain)
        result = await self._async(lambda s: _set(s, tenant_id, agent_id, step, model_ref, chain, changed_by, replace))
        self._notify(tenant_id, agent_id)
        return result

    async def aget(self, tenant_id: str, agent_id: str, step: str) -> TenantOverride | None:
        """Async `get`."""
        step = self._check_step(step)
        return await self._async(lambda s: _get(s, tenant_id, agent_id, step))

    async def alist(self, tenant_id: str | None = None, agent_id: str | None = None) -> list[TenantOverride]:
        """Async `list`."""
        return await self._async(lambda s: _list(s, tenant_id, agent_id))

    async def aremove(self, tenant_id: str, agent_id: str, step: str, *, changed_by: str = "api") -> bool:
        """Async `remove`."""
        step = self._check_step(step)
        removed = await self._async(lambda s: _remove(s, tenant_id, agent_id, step, changed_by))
        if removed:
            self._notify(tenant_id, agent_id)
        return removed

    async def afor_tenant(self, tenant_id: str) -> list[TenantOverride]:
        """Async `for_tenant`."""
        return await self._async(lambda s: _list(s, tenant_id, None))

    # --- plumbing --------------------------------------------------------------------------

    def _sync(self, fn):  # type: ignore[no-untyped-def]
        if self._engine is None:
            raise RuntimeError("this OverrideRepository has no sync engine; use the async methods")
        try:
            with Session(self._engine, expire_on_commit=False) as session, session.begin():
                return fn(session)
        except (OperationalError, ProgrammingError) as exc:
            raise _storage_error(exc) from None

    async def _async(self, fn):  # type: ignore[no-untyped-def]
        if self._async_engine is None:
            raise RuntimeError("this OverrideRepository has no async engine; use the sync methods")
        try:
            async with AsyncSession(self._async_engine, expire_on_commit=False) as session, session.begin():
                return await session.run_sync(fn)
        except (OperationalError, ProgrammingError) as exc:
            raise _storage_error(exc) from None

    def _notify(self, tenant_id: str, agent_id: str) -> None:
        for listener in self._listeners:
            listener(tenant_id, agent_id)


def _storage_error(exc: Exception) -> StorageError:
    text = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    if "no such table" in text or "does not exist" in text:
        return StorageError(f"tenant_model_overrides is missing ({text}): run `focal db upgrade`")
    return StorageError(f"database error: {text}")


def _key(tenant_id: str, agent_id: str, step: str):  # type: ignore[no-untyped-def]
    return (
        TenantModelOverride.tenant_id == tenant_id,
        TenantModelOverride.agent_id == agent_id,
        TenantModelOverride.step == step,
    )


def _get(session: Session, tenant_id: str, agent_id: str, step: str) -> TenantOverride | None:
    row = session.scalars(select(TenantModelOverride).where(*_key(tenant_id, agent_id, step))).one_or_none()
    return TenantOverride._from_row(row) if row is not None else None


def _list(session: Session, tenant_id: str | None, agent_id: str | None) -> list[TenantOverride]:
    stmt = select(TenantModelOverride)
    if tenant_id is not None:
        stmt = stmt.where(TenantModelOverride.tenant_id == tenant_id)
    if agent_id is not None:
        stmt = stmt.where(TenantModelOverride.agent_id == agent_id)
    stmt = stmt.order_by(TenantModelOverride.tenant_id, TenantModelOverride.agent_id, TenantModelOverride.step)
    return [TenantOverride._from_row(r) for r in session.scalars(stmt)]


def _set(
    session: Session,
    tenant_id: str,
    agent_id: str,
    step: str,
    model_ref: str,
    chain: tuple[str, ...] | None,
    changed_by: str,
    replace: bool,
) -> TenantOverride:
    now = utcnow()
    row = session.scalars(
        select(TenantModelOverride).where(*_key(tenant_id, agent_id, step)).with_for_update()
    ).one_or_none()
    previous = row.model_ref if row is not None else None
    if row is not None and not replace:
        raise OverrideExistsError(
            f"tenant {tenant_id!r} already overrides agent {agent_id!r} step {step!r} "
            f"(model {row.model_ref}); remove it first or allow replacing"
        )
    if row is None:
        row = TenantModelOverride(
            tenant_id=tenant_id,
            agent_id=agent_id,
            step=step,
            created_at=now,
            model_ref=model_ref,
            changed_by=changed_by,
        )
        session.add(row)
    row.model_ref = model_ref
    row.fallback_chain = list(chain) if chain is not None else None
    row.updated_at = now
    row.changed_by = changed_by
    session.add(
        TenantModelOverrideChange(
            tenant_id=tenant_id,
            agent_id=agent_id,
            step=step,
            action="set",
            model_ref=model_ref,
            fallback_chain=row.fallback_chain,
            previous_model_ref=previous,
            changed_by=changed_by,
            changed_at=now,
        )
    )
    try:
        session.flush()
    except IntegrityError:
        # a concurrent writer inserted the same key between our read and our insert
        raise OverrideExistsError(
            f"tenant {tenant_id!r} agent {agent_id!r} step {step!r} was overridden concurrently; retry"
        ) from None
    return TenantOverride._from_row(row)


def _remove(session: Session, tenant_id: str, agent_id: str, step: str, changed_by: str) -> bool:
    row = session.scalars(
        select(TenantModelOverride).where(*_key(tenant_id, agent_id, step)).with_for_update()
    ).one_or_none()
    if row is None:
        return False
    session.add(
        TenantModelOverrideChange(
            tenant_id=tenant_id,
            agent_id=agent_id,
            step=step,
            action="remove",
            model_ref=None,
            previous_model_ref=row.model_ref,
            changed_by=changed_by,
            changed_at=utcnow(),
        )
    )
    session.delete(row)
    return True
