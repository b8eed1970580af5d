"""What the resolver tests share: a hand-moved clock and the database-backed environment."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Engine

from focal.routing import (
    ModelResolver,
    OverrideRepository,
)

T0 = dt.datetime(2026, 11, 20, 9, 30, 0, tzinfo=dt.UTC)


class FakeClock:
    """A monotonic clock the test moves by hand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@dataclass
class Env:
    url: str
    engine: Engine
    repo: OverrideRepository
    resolver: ModelResolver
    clock: FakeClock
    reads: list[str]
    """Tenants whose overrides were read from the database (sync or async), in order."""


def count_reads(repo: OverrideRepository, reads: list[str]) -> None:
    sync_read, async_read = repo.for_tenant, repo.afor_tenant

    def for_tenant(tenant_id: str):  # type: ignore[no-untyped-def]
        reads.append(tenant_id)
        return sync_read(tenant_id)

    async def afor_tenant(tenant_id: str):  # type: ignore[no-untyped-def]
        reads.append(tenant_id)
        return await async_read(tenant_id)

    repo.for_tenant = for_tenant  # type: ignore[method-assign]
    repo.afor_tenant = afor_tenant  # type: ignore[method-assign]
