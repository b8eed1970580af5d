"""A change made through Focal while a cache-miss read of the same tenant is in flight.

The read took its rows before the change; the invalidation lands while the read is still on its
way back. The stale rows must not be cached after the invalidation (they would be served for the
whole TTL). Deterministic: the fake repository holds a read on an event after taking its rows.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import threading
from collections.abc import Callable

import pytest

from focal import StorageError
from focal.routing import AgentCatalogs, ModelRegistry, ModelResolver, TenantOverride

T0 = dt.datetime(2026, 11, 20, 9, 30, 0, tzinfo=dt.UTC)
CATALOG = "anthropic/claude-sonnet-5"  # support/generation in the shipped catalog
CHEAP = "openai/gpt-4o-mini"  # openai:cheap
CAPABLE = "openai/gpt-4o"  # openai:capable


class FakeClock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class _AsyncHold:
    def __init__(self) -> None:
        self.taken = asyncio.Event()  # the rows have been read
        self.release = asyncio.Event()  # let them come back to the resolver


class _SyncHold:
    def __init__(self) -> None:
        self.taken = threading.Event()
        self.release = threading.Event()


class GatedRepo:
    """An in-memory `OverrideRepository` stand-in whose next read can be held after its rows are taken
    (the SELECT has run, its result is not back yet). Writes notify listeners like the real one."""

    def __init__(self) -> None:
        self.rows: dict[tuple[str, str, str], TenantOverride] = {}
        self.reads: list[str] = []
        self.fail_reads = False
        self._listeners: list[Callable[[str, str], None]] = []
        self._async_holds: list[_AsyncHold] = []
        self._sync_holds: list[_SyncHold] = []

    def add_listener(self, listener: Callable[[str, str], None]) -> None:
        self._listeners.append(listener)

    def hold_next_async_read(self) -> _AsyncHold:
        hold = _AsyncHold()
        self._async_holds.append(hold)
        return hold

    def hold_next_sync_read(self) -> _SyncHold:
        hold = _SyncHold()
        self._sync_holds.append(hold)
        return hold

    def put(self, tenant_id: str, agent_id: str, step: str, model_ref: str) -> None:
        """Write a row without telling anyone (another process's write)."""
        self.rows[(tenant_id, agent_id, step)] = TenantOverride(
            tenant_id=tenant_id,
            agent_id=agent_id,
            step=step,
            model_ref=model_ref,
            fallback_chain=None,
            created_at=T0,
            updated_at=T0,
            changed_by="test",
        )

    def set(self, tenant_id: str, agent_id: str, step: str, model_ref: str) -> None:
        self.put(tenant_id, agent_id, step, model_ref)  # committed ...
        for listener in self._listeners:  # ... then the listeners are told
            listener(tenant_id, agent_id)

    async def aset(self, tenant_id: str, agent_id: str, step: str, model_ref: str) -> None:
        await asyncio.sleep(0)
        self.set(tenant_id, agent_id, step, model_ref)

    def _take(self, tenant_id: str) -> list[TenantOverride]:
        self.reads.append(tenant_id)
        if self.fail_reads:
            raise StorageError("database unreachable")
        return [row for key, row in self.rows.items() if key[0] == tenant_id]

    def for_tenant(self, tenant_id: str) -> list[TenantOverride]:
        rows = self._take(tenant_id)
        if self._sync_holds:
            hold = self._sync_holds.pop(0)
            hold.taken.set()
            assert hold.release.wait(10), "the test never released the read"
        return rows

    async def afor_tenant(self, tenant_id: str) -> list[TenantOverride]:
        rows = self._take(tenant_id)
        if self._async_holds:
            hold = self._async_holds.pop(0)
            hold.taken.set()
            await hold.release.wait()
        return rows


@pytest.fixture
def repo() -> GatedRepo:
    return GatedRepo()


@pytest.fixture
def resolver(registry: ModelRegistry, catalogs: AgentCatalogs, repo: GatedRepo) -> ModelResolver:
    return ModelResolver(registry, catalogs, repo, ttl_seconds=5.0, clock=FakeClock())  # type: ignore[arg-type]


def _no_reads_in_flight(resolver: ModelResolver) -> bool:
    return not resolver._reads  # the per-tenant bookkeeping is dropped once no read is in flight


async def test_an_async_change_during_an_async_read_is_not_overwritten_by_the_stale_rows(
    resolver: ModelResolver, repo: GatedRepo
) -> None:
    hold = repo.hold_next_async_read()
    reader = asyncio.create_task(resolver.aresolve("acme", "support", "generation"))
    await hold.taken.wait()
    await repo.aset("acme", "support", "generation", "openai:cheap")  # commits and invalidates "acme"
    hold.release.set()
    # the call began before the change: it may answer with the rows it read ...
    assert (await reader).model.ref == CATALOG
    # ... but they are not cached: the change is seen at once, not after the TTL
    assert (await resolver.aresolve("acme", "support", "generation")).model.ref == CHEAP
    assert resolver.resolve("acme", "support", "generation").model.ref == CHEAP
    assert repo.reads == ["acme", "acme"]
    assert _no_reads_in_flight(resolver)


def test_a_change_during_a_sync_read_in_another_thread_is_not_overwritten(
    resolver: ModelResolver, repo: GatedRepo
) -> None:
    hold = repo.hold_next_sync_read()
    got: list[str] = []
    reader = threading.Thread(target=lambda: got.append(resolver.resolve("acme", "support", "generation").model.ref))
    reader.start()
    assert hold.taken.wait(10)
    repo.set("acme", "support", "generation", "openai:capable")  # from this thread, during the read
    hold.release.set()
    reader.join(10)
    assert got == [CATALOG]
    assert resolver.resolve("acme", "support", "generation").model.ref == CAPABLE
    assert repo.reads == ["acme", "acme"]
    assert _no_reads_in_flight(resolver)


async def test_a_sync_change_during_an_async_read(resolver: ModelResolver, repo: GatedRepo) -> None:
    hold = repo.hold_next_async_read()
    reader = asyncio.create_task(resolver.aresolve("acme", "support", "generation"))
    await hold.taken.wait()
    repo.set("acme", "support", "generation", "openai:capable")
    hold.release.set()
    await reader
    assert (await resolver.aresolve("acme", "support", "generation")).model.ref == CAPABLE


async def test_invalidate_all_during_a_read_is_not_overwritten(resolver: ModelResolver, repo: GatedRepo) -> None:
    hold = repo.hold_next_async_read()
    reader = asyncio.create_task(resolver.aresolve("acme", "support", "generation"))
    await hold.taken.wait()
    repo.put("acme", "support", "generation", "openai:cheap")  # written elsewhere ...
    resolver.invalidate()  # ... and every tenant dropped by hand
    hold.release.set()
    assert (await reader).model.ref == CATALOG
    assert (await resolver.aresolve("acme", "support", "generation")).model.ref == CHEAP
    assert repo.reads == ["acme", "acme"]
    assert _no_reads_in_flight(resolver)


def test_invalidate_all_during_a_sync_read_in_another_thread(resolver: ModelResolver, repo: GatedRepo) -> None:
    hold = repo.hold_next_sync_read()
    reader = threading.Thread(target=lambda: resolver.resolve("acme", "support", "generation"))
    reader.start()
    assert hold.taken.wait(10)
    repo.put("acme", "support", "generation", "openai:cheap")
    resolver.invalidate()
    hold.release.set()
    reader.join(10)
    assert resolver.resolve("acme", "support", "generation").model.ref == CHEAP


async def test_a_read_begun_before_the_change_does_not_replace_one_begun_after(
    resolver: ModelResolver, repo: GatedRepo
) -> None:
    hold = repo.hold_next_async_read()
    old_reader = asyncio.create_task(resolver.aresolve("acme", "support", "generation"))
    await hold.taken.wait()
    await repo.aset("acme", "support", "generation", "openai:cheap")
    fresh = await resolver.aresolve("acme", "support", "generation")  # a new read, cached
    assert fresh.model.ref == CHEAP
    hold.release.set()
    assert (await old_reader).model.ref == CATALOG
    assert await resolver.aresolve("acme", "support", "generation") is fresh  # still the fresh entry
    assert repo.reads == ["acme", "acme"]
    assert _no_reads_in_flight(resolver)


async def test_a_change_to_another_tenant_does_not_stop_the_read_being_cached(
    resolver: ModelResolver, repo: GatedRepo
) -> None:
    hold = repo.hold_next_async_read()
    reader = asyncio.create_task(resolver.aresolve("acme", "support", "generation"))
    await hold.taken.wait()
    await repo.aset("globex", "support", "generation", "openai:cheap")
    hold.release.set()
    first = await reader
    assert await resolver.aresolve("acme", "support", "generation") is first
    assert repo.reads == ["acme"]


async def test_a_change_before_the_read_began_is_cached_normally(resolver: ModelResolver, repo: GatedRepo) -> None:
    first = await resolver.aresolve("acme", "support", "generation")
    await repo.aset("acme", "support", "generation", "openai:cheap")
    second = await resolver.aresolve("acme", "support", "generation")
    assert first.model.ref == CATALOG and second.model.ref == CHEAP
    assert resolver.resolve("acme", "support", "generation") is second
    assert repo.reads == ["acme", "acme"]


async def test_a_failed_read_leaves_no_bookkeeping_behind(resolver: ModelResolver, repo: GatedRepo) -> None:
    repo.fail_reads = True
    with pytest.raises(StorageError):
        await resolver.aresolve("acme", "support", "generation")
    with pytest.raises(StorageError):
        resolver.resolve("acme", "support", "generation")
    assert _no_reads_in_flight(resolver)
    repo.fail_reads = False
    first = await resolver.aresolve("acme", "support", "generation")
    assert resolver.resolve("acme", "support", "generation") is first


async def test_a_cancelled_read_leaves_no_bookkeeping_behind(resolver: ModelResolver, repo: GatedRepo) -> None:
    hold = repo.hold_next_async_read()
    reader = asyncio.create_task(resolver.aresolve("acme", "support", "generation"))
    await hold.taken.wait()
    reader.cancel()
    with pytest.raises(asyncio.CancelledError):
        await reader
    assert _no_reads_in_flight(resolver)
    assert repo.reads == ["acme"]
