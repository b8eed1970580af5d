"""Reconciliation: a session pinned to one configuration version meets the version its tenant serves now.

A session keeps its position when it still makes sense: the same scenario and step exist in the new
version → stay (re-pinned); the step is gone but the scenario exists → its entry step; the scenario is
gone → out of any scenario. Fire counts of rules that no longer exist are dropped. Pure: the workflow
records the note it returns.
"""

from __future__ import annotations

from dataclasses import dataclass

from focal.alignment.config import AlignmentConfig
from focal.alignment.session import AlignmentState

__all__ = ["Reconciliation", "reconcile"]


@dataclass(frozen=True, slots=True)
class Reconciliation:
    state: AlignmentState
    note: str | None
    """None when nothing changed; else what happened, for the audit."""
    relocated: bool = False


def reconcile(state: AlignmentState, config: AlignmentConfig) -> Reconciliation:
    """`state` re-pinned to `config` (the version now served), its position kept where it can be."""
    if state.config_version == config.version:
        return Reconciliation(state, None)
    if state.config_version is None:  # a new session is pinned: nothing to reconcile
        return Reconciliation(state.model_copy(update={"config_version": config.version}), None)
    pinned = state.model_copy(
        update={
            "config_version": config.version,
            "fire_counts": {k: v for k, v in state.fire_counts.items() if k in config.rules_by_id},
            "last_fired_turn": {k: v for k, v in state.last_fired_turn.items() if k in config.rules_by_id},
        }
    )
    before = state.config_version or "none"
    scenario_id, step_id = state.active_scenario, state.active_step
    if scenario_id is None:
        return Reconciliation(pinned, f"re-pinned {before} → {config.version}; not in a scenario")
    scenario = config.scenarios.get(scenario_id)
    if scenario is None:
        note = f"re-pinned {before} → {config.version}; scenario {scenario_id!r} is gone: left it"
        return Reconciliation(pinned.at(None), note, relocated=True)
    if step_id is not None and (scenario_id, step_id) in config.steps:
        return Reconciliation(pinned, f"re-pinned {before} → {config.version}; stays at {scenario_id}/{step_id}")
    note = (
        f"re-pinned {before} → {config.version}; step {scenario_id}/{step_id} is gone: "
        f"relocated to the entry step {scenario.entry_step}"
    )
    return Reconciliation(pinned.at(scenario_id, scenario.entry_step), note, relocated=True)
