"""The alignment store on SQLite and PostgreSQL: import → load → export, versions, tenants apart,
concurrent imports serialized, a failed import changes nothing."""

from __future__ import annotations

import asyncio
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from focal.tools import shipped_catalog
from sqlalchemy import func, select

from focal.alignment import read_folder
from focal.alignment.store import AlignmentStore
from focal.errors import ConfigError, NotFoundError
from focal.storage import AlignmentVersion, make_async_engine, make_sync_engine, upgrade

SUPPORT = Path(__file__).resolve().parents[3] / "configs" / "alignment" / "support"


@pytest.fixture
def store(database_url: str) -> Iterator[AlignmentStore]:
    upgrade(database_url)
    engine = make_sync_engine(database_url)
    yield AlignmentStore(shipped_catalog(), engine=engine)
    engine.dispose()


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    return Path(shutil.copytree(SUPPORT, tmp_path / "support"))


def test_import_load_export_round_trip(store: AlignmentStore, folder: Path, tmp_path: Path) -> None:
    result = store.import_folder(folder, "acme", created_by="ops")
    assert result.created and result.previous_version is None and result.generation == 1
    config = store.load("acme", "support")
    assert config.version == result.version == read_folder(SUPPORT)[0].version
    assert config.tenant_id == "acme" and {r.id for r in config.global_rules} >= {"greeting", "no_profanity"}
    assert config.expression("refund_amount > 50") is not None
    assert store.export_folder("acme", "support", tmp_path / "out") == result.version
    again = store.import_folder(tmp_path / "out", "acme", created_by="ops")
    assert again.version == result.version and not again.created and again.previous_version == result.version


def test_a_new_version_is_published_and_the_old_one_stays_readable(store: AlignmentStore, folder: Path) -> None:
    first = store.import_folder(folder, "acme", created_by="ops")
    (folder / "rules.yaml").write_text((folder / "rules.yaml").read_text().replace("priority: 10", "priority: 11"))
    second = store.import_folder(folder, "acme", created_by="ops")
    assert second.version != first.version and second.previous_version == first.version and second.generation == 2
    assert store.load("acme", "support").version == second.version
    pinned = store.load("acme", "support", first.version)  # a session pinned to the old one keeps it
    assert pinned.version == first.version and pinned.rules_by_id["greeting"].priority == 10
    listed = store.versions("acme", "support")
    assert [v.version for v in listed if v.current] == [second.version] and len(listed) == 2


def test_two_tenants_importing_the_same_folder_are_independent(database_url: str, folder: Path) -> None:
    upgrade(database_url)
    engine = make_sync_engine(database_url)
    try:
        writer, reader = (AlignmentStore(shipped_catalog(), engine=engine) for _ in range(2))
        a = writer.import_folder(folder, "acme", created_by="ops")
        b = writer.import_folder(folder, "globex", created_by="ops")
        assert a.version == b.version and a.created and b.created  # same content, each tenant its own row
        (folder / "rules.yaml").write_text((folder / "rules.yaml").read_text().replace("priority: 10", "priority: 12"))
        newer = writer.import_folder(folder, "globex", created_by="ops")
        assert reader.load("acme", "support").version == a.version  # globex's change is globex's only
        assert reader.load("globex", "support").version == newer.version
        assert [v.version for v in reader.versions("acme", "support")] == [a.version]
        with pytest.raises(NotFoundError):
            reader.load("initech", "support")
        with pytest.raises(NotFoundError):
            reader.load("acme", "support", newer.version)  # another tenant's version is not acme's
    finally:
        engine.dispose()


def test_a_failed_import_writes_nothing_and_keeps_serving(store: AlignmentStore, folder: Path) -> None:
    good = store.import_folder(folder, "acme", created_by="ops")
    (folder / "templates.yaml").write_text((folder / "templates.yaml").read_text().replace("{order_status}", "{mood}"))
    with pytest.raises(ConfigError, match="mood"):
        store.import_folder(folder, "acme", created_by="ops")
    store.invalidate()
    assert store.load("acme", "support").version == good.version
    assert len(store.versions("acme", "support")) == 1


def test_concurrent_imports_of_one_tenant_serialize(database_url: str, tmp_path: Path) -> None:
    upgrade(database_url)
    engine = (
        make_sync_engine(database_url, pool_size=8) if "postgresql" in database_url else make_sync_engine(database_url)
    )
    folders = []
    for i in range(6):
        target = Path(shutil.copytree(SUPPORT, tmp_path / f"v{i}"))
        rules = target / "rules.yaml"
        rules.write_text(rules.read_text().replace("priority: 10", f"priority: {20 + i}"))
        folders.append(target)
    stores = [AlignmentStore(shipped_catalog(), engine=engine) for _ in folders]
    results, errors = [], []
    barrier = threading.Barrier(len(folders))

    def run(store: AlignmentStore, folder: Path) -> None:
        barrier.wait()
        try:
            results.append(store.import_folder(folder, "acme", created_by="ops"))
        except Exception as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=run, args=pair) for pair in zip(stores, folders, strict=True)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    try:
        assert errors == []
        assert sorted(r.generation for r in results) == list(range(1, 7))  # one after another
        last = max(results, key=lambda r: r.generation)
        fresh = AlignmentStore(shipped_catalog(), engine=engine)
        assert fresh.load("acme", "support").version == last.version
        with engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(AlignmentVersion)).scalar_one() == 6
    finally:
        engine.dispose()


async def test_async_load_shares_the_cache(database_url: str, folder: Path) -> None:
    upgrade(database_url)
    engine, async_engine = make_sync_engine(database_url), make_async_engine(database_url)
    try:
        store = AlignmentStore(shipped_catalog(), engine=engine, async_engine=async_engine)
        result = await store.aimport_folder(folder, "acme", created_by="ops")
        loaded = await asyncio.gather(*(store.aload("acme", "support") for _ in range(10)))
        assert {c.version for c in loaded} == {result.version}
        assert store.load("acme", "support") is loaded[0]  # compiled once per version
    finally:
        await async_engine.dispose()
        engine.dispose()


def test_a_publication_elsewhere_is_seen_after_the_ttl(database_url: str, folder: Path) -> None:
    upgrade(database_url)
    engine = make_sync_engine(database_url)
    now = [0.0]
    try:
        reader = AlignmentStore(shipped_catalog(), engine=engine, ttl_seconds=5, clock=lambda: now[0])
        other = AlignmentStore(shipped_catalog(), engine=engine)  # another process
        first = other.import_folder(folder, "acme", created_by="ops")
        assert reader.load("acme", "support").version == first.version
        (folder / "rules.yaml").write_text((folder / "rules.yaml").read_text().replace("priority: 10", "priority: 9"))
        second = other.import_folder(folder, "acme", created_by="ops")
        assert reader.load("acme", "support").version == first.version  # within the TTL
        now[0] = 5.1
        assert reader.load("acme", "support").version == second.version
    finally:
        engine.dispose()


@pytest.mark.parametrize("tenant", ["", "a b", "x" * 200])
def test_bad_tenant_ids_are_refused(store: AlignmentStore, folder: Path, tenant: str) -> None:
    with pytest.raises(ConfigError, match="tenant"):
        store.import_folder(folder, tenant, created_by="ops")
