"""Reconciliation of a session pinned to one version with the version its tenant serves now."""

from __future__ import annotations

import re
from pathlib import Path

import yaml
from focal.tools import shipped_catalog

from focal.alignment import AlignmentConfig, AlignmentState, compile_config, load_folder, reconcile
from tests.unit.alignment.conftest import SUPPORT


def _config(folder: Path) -> AlignmentConfig:
    document, expressions = load_folder(folder, shipped_catalog())
    return compile_config(document, "acme", expressions)


CURRENT = _config(SUPPORT)


def _pinned(**position: str | None) -> AlignmentState:
    return AlignmentState(
        turn=4,
        config_version="v-old",
        fire_counts={"greeting": 1, "retired_rule": 2},
        last_fired_turn={"greeting": 1, "retired_rule": 3},
        **position,
    )


def test_a_new_session_is_pinned_without_a_note() -> None:
    result = reconcile(AlignmentState(), CURRENT)
    assert result.state.config_version == CURRENT.version and result.note is None and not result.relocated


def test_the_same_version_changes_nothing() -> None:
    state = AlignmentState(config_version=CURRENT.version, active_scenario="refund", active_step="decide")
    assert reconcile(state, CURRENT).state is state and reconcile(state, CURRENT).note is None


def test_a_step_that_still_exists_keeps_its_place_and_retired_rules_lose_their_counts() -> None:
    result = reconcile(_pinned(active_scenario="refund", active_step="decide"), CURRENT)
    assert (result.state.active_scenario, result.state.active_step) == ("refund", "decide")
    assert result.state.config_version == CURRENT.version and not result.relocated
    assert result.state.fire_counts == {"greeting": 1} and result.state.last_fired_turn == {"greeting": 1}
    assert result.state.turn == 4
    assert result.note == f"re-pinned v-old → {CURRENT.version}; stays at refund/decide"


def test_a_step_that_is_gone_relocates_to_the_entry_step(folder: Path) -> None:
    scenario = folder / "scenarios" / "order_status.yaml"
    scenario.write_text(re.sub(r"\blookup\b", "find_order", scenario.read_text()))
    result = reconcile(_pinned(active_scenario="order_status", active_step="lookup"), _config(folder))
    assert (result.state.active_scenario, result.state.active_step) == ("order_status", "collect_order_number")
    assert result.relocated and "order_status/lookup is gone" in (result.note or "")


def test_a_scenario_that_is_gone_is_left(folder: Path) -> None:
    (folder / "scenarios" / "refund.yaml").unlink()
    for name, key in (("rules.yaml", "rules"), ("templates.yaml", "templates")):
        data = yaml.safe_load((folder / name).read_text())
        data[key] = [item for item in data[key] if item.get("scope_id") != "refund"]
        (folder / name).write_text(yaml.safe_dump(data))
    result = reconcile(_pinned(active_scenario="refund", active_step="decide"), _config(folder))
    assert (result.state.active_scenario, result.state.active_step) == (None, None)
    assert result.relocated and "scenario 'refund' is gone" in (result.note or "")
