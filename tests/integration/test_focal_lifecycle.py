"""`Focal.open()` / `Focal.create()`: the same defaults, and nothing left open by a cancelled create."""

from __future__ import annotations

import asyncio
import gc
import time
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

import focal.app
from focal import Focal, FocalSettings, StorageError
from focal.execution.testing import FakeModels
from tests.conftest import _throwaway_postgres


def test_open_migrates_the_embedded_database_like_create(tmp_path: Path) -> None:
    app = Focal.open(FocalSettings(data_dir=tmp_path), model_factory=FakeModels().factory)
    try:
        assert app.resolver.resolve("acme", "support", "generation").model.ref == "anthropic/claude-sonnet-5"
    finally:
        app.close()
    assert (tmp_path / "focal.db").is_file()


def test_open_never_migrates_postgresql(tmp_path: Path, postgres_server: str) -> None:
    urls = _throwaway_postgres(postgres_server)
    url = next(urls)
    try:
        with pytest.raises(StorageError, match="the database has no Focal schema: run `focal db upgrade`"):
            Focal.open(FocalSettings(database_url=url, data_dir=tmp_path))
    finally:
        with pytest.raises(StopIteration):
            next(urls)


def _slow_config(monkeypatch: pytest.MonkeyPatch, seconds: float) -> None:
    """Make `open` (in its worker thread) take a while, so a cancellation lands in the middle of it."""
    real = focal.app.load_routing_config

    def slow(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(seconds)
        return real(*args, **kwargs)

    monkeypatch.setattr(focal.app, "load_routing_config", slow)


async def test_a_cancelled_create_closes_what_its_thread_opened(
    database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    opened: list[Focal] = []
    closed: list[Focal] = []
    real_open, real_aclose = Focal.open.__func__, Focal.aclose  # type: ignore[attr-defined]

    def spy_open(cls, *args, **kwargs):  # type: ignore[no-untyped-def]
        app = real_open(cls, *args, **kwargs)
        opened.append(app)
        return app

    async def spy_aclose(self: Focal) -> None:
        closed.append(self)
        await real_aclose(self)

    monkeypatch.setattr(Focal, "open", classmethod(spy_open))
    monkeypatch.setattr(Focal, "aclose", spy_aclose)
    _slow_config(monkeypatch, 0.3)
    settings = FocalSettings(database_url=database_url, data_dir=tmp_path)

    task = asyncio.ensure_future(Focal.create(settings, migrate=True, model_factory=FakeModels().factory))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert task.cancelled()  # the cancellation went through, after the cleanup
    assert len(opened) == 1 and closed == opened
    assert opened[0].engine.pool.checkedout() == 0

    with pytest.raises(TimeoutError):  # a timeout is a cancellation too
        await asyncio.wait_for(Focal.create(settings, model_factory=FakeModels().factory), timeout=0.05)
    assert len(opened) == 2 and closed == opened


@pytest.mark.postgres
@pytest.mark.parametrize("database_url", ["postgresql"], indirect=True)
async def test_timed_out_creates_leave_no_postgresql_connection(
    database_url: str, postgres_server: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    name = make_url(database_url).database
    admin = create_engine(postgres_server)

    def connections() -> int:
        with admin.connect() as conn:
            query = text("select count(*) from pg_stat_activity where datname = :name")
            return conn.execute(query, {"name": name}).scalar_one()

    gc.disable()  # a leaked Focal must not be rescued by a collection in the middle of the test
    try:
        _slow_config(monkeypatch, 0.2)
        settings = FocalSettings(database_url=database_url, data_dir=tmp_path)
        for _ in range(3):
            with pytest.raises(TimeoutError):
                await asyncio.wait_for(Focal.create(settings, migrate=True), timeout=0.02)
        await asyncio.sleep(1.0)  # had a thread gone on alone, it would have connected by now
        assert connections() == 0
    finally:
        gc.enable()
        admin.dispose()


async def test_a_failed_open_under_cancellation_still_cancels(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def failing(*args, **kwargs):  # type: ignore[no-untyped-def]
        time.sleep(0.2)
        raise StorageError("boom")

    monkeypatch.setattr(focal.app, "load_routing_config", failing)
    task = asyncio.ensure_future(Focal.create(FocalSettings(data_dir=tmp_path)))
    await asyncio.sleep(0.05)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
