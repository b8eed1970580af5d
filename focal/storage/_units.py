"""`UnitRunner`: run a unit of work (a function of a `Connection`) on whichever engine a store was given."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeVar

from sqlalchemy import Connection, Engine
from sqlalchemy.ext.asyncio import AsyncEngine

__all__ = ["UnitRunner"]

T = TypeVar("T")


class UnitRunner:
    """Sync callers need `engine`; async callers use `async_engine`, or `engine` in a worker thread.

    Raises:
        ValueError: neither engine was given (`owner` names the store in the message).
    """

    def __init__(self, owner: str, engine: Engine | None = None, async_engine: AsyncEngine | None = None) -> None:
        if engine is None and async_engine is None:
            raise ValueError(f"{owner} needs an engine or an async engine")
        self.owner = owner
        self.engine = engine
        self.async_engine = async_engine

    def run(self, work: Callable[[Connection], T], *, write: bool = False) -> T:
        """`work` in a transaction (`write`) or on a plain connection."""
        if self.engine is None:
            raise RuntimeError(f"this {self.owner} has only an async engine: use the a* methods")
        with self.engine.begin() if write else self.engine.connect() as conn:
            return work(conn)

    async def arun(self, work: Callable[[Connection], T], *, write: bool = False) -> T:
        if self.async_engine is None:
            return await asyncio.to_thread(self.run, work, write=write)
        async with self.async_engine.begin() if write else self.async_engine.connect() as conn:
            return await conn.run_sync(work)
