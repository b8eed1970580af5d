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

from sqlalchemy import Engine, false, select, update
from sqlalchemy.exc import DataError, IntegrityError, OperationalError, ProgrammingError
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession
from sqlalchemy.orm import Session

from focal.errors import ConfigError, FocalError, NotFoundError, OverrideExistsError, StorageError
from focal.routing._chains import resolve_chain
from focal.routing.catalogs import AgentCatalogs
from focal.routing.registry import ModelRegistry
from focal.routing.steps import ALL_STEPS, to_step
from focal.storage.tables import TenantModelOverride, TenantModelOverrideChange, utcnow

__all__ = ["OverrideRepository", "TenantOverride"]

_TENANT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:@-]{0,127}")  # used with fullmatch: no trailing newline
_CHANGED_BY_MAX = 128  # the `changed_by` columns are String(128)
_WRITE_ATTEMPTS = 3
"""A replacing `set` that loses a race to create the same new key is retried (then it updates the row)."""

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
    if not isinstance(tenant_id, str) or not _TENANT_ID.fullmatch(tenant_id):
        raise ConfigError(f"invalid tenant id {tenant_id!r}: use 1-128 letters, digits or ._:@-", key="tenant_id")
    return tenant_id


def check_changed_by(changed_by: str) -> str:
    """Validate who made a change (audit trail): 1-128 characters, not only blanks.

    Raises:
        ConfigError: empty, blank or longer than the column holds (names `changed_by` and `--by`).
    """
    if not isinstance(changed_by, str) or not changed_by.strip():
        raise ConfigError(f"changed_by (--by) must name who makes the change, got {changed_by!r}", key="changed_by")
    if len(changed_by) > _CHANGED_BY_MAX:
        raise ConfigError(
            f"changed_by (--by) is {len(changed_by)} characters long; at most {_CHANGED_BY_MAX}", key="changed_by"
        )
    return changed_by


class _KeyTaken(Exception):
    """A concurrent writer created the same (tenant, agent, step) between our read and our insert."""


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
        self,
        tenant_id: str,
        agent_id: str,
        step: str,
        model_ref: str,
        fallback_chain: Iterable[str] | None,
        changed_by: str,
    ) -> tuple[str, str, tuple[str, ...] | None]:
        check_tenant_id(tenant_id)
        check_changed_by(changed_by)
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
            changed_by: who made the change (audit trail; 1-128 characters).
            replace: False refuses to replace an existing override. True also wins a race with a
                concurrent writer creating the same new override: the write is retried and replaces it.

        Raises:
            ConfigError: malformed tenant id, reference or `changed_by`, a fallback cycle, or a value
                the database refuses.
            NotFoundError: unknown agent or step.
            OverrideExistsError: one exists (or was created concurrently) and `replace=False`.
            StorageError: the database is unreachable or not migrated.
        """
        step, model_ref, chain = self._validate(tenant_id, agent_id, step, model_ref, fallback_chain, changed_by)
        result = self._sync(
            lambda s: _set(s, tenant_id, agent_id, step, model_ref, chain, changed_by, replace),
            conflict=_Conflict(tenant_id, agent_id, step, retry=replace),
        )
        self._notify(tenant_id, agent_id)
        return result

    def get(self, tenant_id: str, agent_id: str, step: str) -> TenantOverride | None:
        """The override of one (tenant, agent, step), or None.

        Raises:
            ConfigError: malformed tenant id.
            NotFoundError: unknown step.
        """
        check_tenant_id(tenant_id)
        step = self._check_step(step)
        return self._sync(lambda s: _get(s, tenant_id, agent_id, step))

    def list(self, tenant_id: str | None = None, agent_id: str | None = None) -> list[TenantOverride]:
        """Overrides, optionally of one tenant and/or agent, ordered by tenant, agent, step."""
        return self._sync(lambda s: _list(s, tenant_id, agent_id))

    def remove(self, tenant_id: str, agent_id: str, step: str, *, changed_by: str = "api") -> bool:
        """Delete an override; False if there was none.

        Raises:
            ConfigError: malformed tenant id or `changed_by`.
            NotFoundError: unknown step.
            StorageError: the database is unreachable or not migrated.
        """
        check_tenant_id(tenant_id)
        check_changed_by(changed_by)
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
        step, model_ref, chain = self._validate(tenant_id, agent_id, step, model_ref, fallback_chain, changed_by)
        result = await self._async(
            lambda s: _set(s, tenant_id, agent_id, step, model_ref, chain, changed_by, replace),
            conflict=_Conflict(tenant_id, agent_id, step, retry=replace),
        )
        self._notify(tenant_id, agent_id)
        return result

    async def aget(self, tenant_id: str, agent_id: str, step: str) -> TenantOverride | None:
        """Async `get`."""
        check_tenant_id(tenant_id)
        step = self._check_step(step)
        return await self._async(lambda s: _get(s, tenant_id, agent_id, step))

    async def alist(self, tenant_id: str | None = None, agent_id: str | None = None) -> list[TenantOverride]:
        """Async `list`."""
        return await self._async(lambda s: _list(s, tenant_id, agent_id))

    async def aremove(self, tenant_id: str, agent_id: str, step: str, *, changed_by: str = "api") -> bool:
        """Async `remove`."""
        check_tenant_id(tenant_id)
        check_changed_by(changed_by)
        step = self._check_step(step)
        removed = await self._async(lambda s: _remove(s, tenant_id, agent_id, step, changed_by))
        if removed:
            self._notify(tenant_id, agent_id)
        return removed

    async def afor_tenant(self, tenant_id: str) -> list[TenantOverride]:
        """Async `for_tenant`."""
        return await self._async(lambda s: _list(s, tenant_id, None))

    # --- plumbing --------------------------------------------------------------------------

    def _sync(self, fn, *, conflict: _Conflict | None = None):  # type: ignore[no-untyped-def]
        if self._engine is None:
            raise RuntimeError("this OverrideRepository has no sync engine; use the async methods")
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                with Session(self._engine, expire_on_commit=False) as session, session.begin():
                    return fn(session)
            except _KeyTaken:  # rolled back whole: its change-log row is gone with it
                assert conflict is not None
                conflict.check(attempt)
            except (OperationalError, ProgrammingError, DataError, IntegrityError) as exc:
                raise _storage_error(exc) from None
        raise AssertionError("unreachable")

    async def _async(self, fn, *, conflict: _Conflict | None = None):  # type: ignore[no-untyped-def]
        if self._async_engine is None:
            raise RuntimeError("this OverrideRepository has no async engine; use the sync methods")
        for attempt in range(1, _WRITE_ATTEMPTS + 1):
            try:
                async with AsyncSession(self._async_engine, expire_on_commit=False) as session, session.begin():
                    return await session.run_sync(fn)
            except _KeyTaken:
                assert conflict is not None
                conflict.check(attempt)
            except (OperationalError, ProgrammingError, DataError, IntegrityError) as exc:
                raise _storage_error(exc) from None
        raise AssertionError("unreachable")

    def _notify(self, tenant_id: str, agent_id: str) -> None:
        for listener in self._listeners:
            listener(tenant_id, agent_id)


@dataclass(frozen=True, slots=True)
class _Conflict:
    """What to do when a concurrent writer created the key we were inserting."""

    tenant_id: str
    agent_id: str
    step: str
    retry: bool

    def check(self, attempt: int) -> None:
        """Return to retry the write (it then finds the row and replaces it); raise when that is not allowed."""
        if self.retry and attempt < _WRITE_ATTEMPTS:
            return
        where = f"tenant {self.tenant_id!r} agent {self.agent_id!r} step {self.step!r}"
        if self.retry:  # lost the race every time: the row keeps being removed and re-created
            raise StorageError(f"{where}: the override kept changing concurrently over {attempt} attempts; retry")
        raise OverrideExistsError(f"{where} was overridden concurrently; remove it first or allow replacing")


def _storage_error(exc: Exception) -> FocalError:
    text = str(getattr(exc, "orig", exc)).strip().splitlines()[0]
    if isinstance(exc, DataError):  # a value the column cannot hold (too long, malformed)
        return ConfigError(f"the database refused a value: {text}")
    if isinstance(exc, IntegrityError):
        return StorageError(f"the database refused the change (constraint): {text}")
    if "no such table" in text or "does not exist" in text:
        return StorageError(f"tenant_model_overrides is missing ({text}): run `focal db upgrade`")
    return StorageError(f"database error: {text}")


def _key(tenant_id: str, agent_id: str, step: str):  # type: ignore[no-untyped-def]
    return (
        TenantModelOverride.tenant_id == tenant_id,
        TenantModelOverride.agent_id == agent_id,
        TenantModelOverride.step == step,
    )


def _lock_for_write(session: Session) -> None:
    """Take SQLite's write lock before reading the row a write depends on.

    PostgreSQL locks the row (`SELECT ... FOR UPDATE`). SQLite ignores `FOR UPDATE`, and its driver
    opens the transaction only at the first write, so two writers could both read the old row and
    log the same `previous_model_ref`. A write that changes nothing opens the transaction and takes
    the database's write lock (waiting for the other writer), so the read that follows is current.
    """
    if session.get_bind().dialect.name == "sqlite":
        session.execute(update(TenantModelOverride).where(false()).values(step=TenantModelOverride.step))


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
    _lock_for_write(session)
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
        if previous is not None:  # updating a row we hold: not a race on the key
            raise
        # a concurrent writer inserted the same key between our read and our insert: the caller
        # rolls this transaction back (with its change-log row) and retries or refuses
        raise _KeyTaken from None
    return TenantOverride._from_row(row)


def _remove(session: Session, tenant_id: str, agent_id: str, step: str, changed_by: str) -> bool:
    _lock_for_write(session)
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
