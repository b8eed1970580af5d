"""The end-to-end rig: the shared workflow over real stores, tools and Agno sessions, on SQLite and
PostgreSQL, every LLM step answered in call order by a scripted executor."""

from __future__ import annotations

import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from focal.tools import seed_demo_data, shipped_catalog, shipped_registry
from focal.workflows import TurnServices, build_alignment_workflow

from focal.alignment.audit import TurnStore
from focal.alignment.store import AlignmentStore
from focal.execution.testing import ScriptedExecutor
from focal.storage import create_agno_db, make_async_engine, make_sync_engine, upgrade
from focal.telemetry import RunTracker
from tests.e2e.scripts import Sink

SUPPORT = Path(__file__).resolve().parents[2] / "configs" / "alignment" / "support"
JUDGED = ("no_profanity", "no_delivery_promises")
"""Shipped hard rules whose `check` the rig removes, so the turns exercise the LLM judge (the shipped
agent decides them by expression; `test_alignment_turn` checks that too)."""


def judged_support(folder: Path) -> Path:
    """A copy of the shipped support agent in `folder` with the `JUDGED` rules left to the judge."""
    shutil.copytree(SUPPORT, folder)
    rules_file = folder / "rules.yaml"
    document = yaml.safe_load(rules_file.read_text())
    for rule in document["rules"]:
        if rule["id"] in JUDGED:
            del rule["check"]
    rules_file.write_text(yaml.safe_dump(document, sort_keys=False))
    return folder


@pytest.fixture
async def rig(database_url: str, tmp_path: Path) -> AsyncIterator[dict[str, Any]]:
    upgrade(database_url)
    engine, async_engine = make_sync_engine(database_url), make_async_engine(database_url)
    seed_demo_data(engine)
    store = AlignmentStore(shipped_catalog(), engine=engine, async_engine=async_engine)
    support = judged_support(tmp_path / "support")
    for tenant in ("acme", "globex"):
        store.import_folder(support, tenant, created_by="tests")
    executor = ScriptedExecutor()
    sink, turns = Sink(), TurnStore(engine=engine, async_engine=async_engine)
    services = TurnServices(
        executor=executor,  # type: ignore[arg-type]
        alignment=store,
        tools=shipped_registry(async_engine),
        turns=turns,
        runs=RunTracker(sink),
    )
    # Agno's db on the rig's engine: disposing it at the end closes Agno's connections too
    workflow = build_alignment_workflow(services, db=create_agno_db(database_url, db_engine=async_engine))
    yield {
        "workflow": workflow,
        "executor": executor,
        "turns": turns,
        "sink": sink,
        "store": store,
        "async_engine": async_engine,
    }
    await async_engine.dispose()
    engine.dispose()
