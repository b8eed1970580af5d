"""What a session remembers between turns (`AlignmentState`) and what this turn brings (`Situation`)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from pydantic import Field

from focal.alignment._base import Frozen

__all__ = ["AlignmentState", "Situation", "turn_variables"]


class AlignmentState(Frozen):
    """A session's alignment state, immutable: each change returns a new state.

    - `turn`: the number of the current turn, from 1.
    - `fire_counts` / `last_fired_turn`: by rule id, how often it fired this session and at which turn last.
    - `active_scenario` / `active_step`: where the conversation is in a scenario, if it is in one.
    - `variables`: the values known so far (collected by steps, returned by tools, from the profile).
    - `config_version`: the configuration version the session is pinned to.
    """

    turn: int = Field(default=1, ge=1)
    fire_counts: dict[str, int] = Field(default_factory=dict)
    last_fired_turn: dict[str, int] = Field(default_factory=dict)
    active_scenario: str | None = None
    active_step: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict)
    config_version: str | None = None

    def with_fired(self, rule_ids: Iterable[str], turn: int | None = None) -> AlignmentState:
        """The state after `rule_ids` fired at `turn` (default: the current turn); each counts once."""
        at = self.turn if turn is None else turn
        counts, last = dict(self.fire_counts), dict(self.last_fired_turn)
        for rule_id in dict.fromkeys(rule_ids):
            counts[rule_id] = counts.get(rule_id, 0) + 1
            last[rule_id] = at
        return self.model_copy(update={"fire_counts": counts, "last_fired_turn": last})

    def next_turn(self) -> AlignmentState:
        return self.model_copy(update={"turn": self.turn + 1})

    def at(self, scenario_id: str | None, step_id: str | None = None) -> AlignmentState:
        """The state at another position (`None`: out of any scenario)."""
        return self.model_copy(update={"active_scenario": scenario_id, "active_step": step_id if scenario_id else None})

    def with_variables(self, values: dict[str, Any]) -> AlignmentState:
        """The state with `values` known (they replace earlier values of the same names)."""
        return self.model_copy(update={"variables": {**self.variables, **values}})


class Situation(Frozen):
    """This turn as context extraction saw it: the message, its intent and language, and the candidate
    variable values it found (not validated yet: see `validate_variables`)."""

    message: str
    intent: str | None = None
    language: str | None = None
    variables: dict[str, Any] = Field(default_factory=dict)


def turn_variables(state: AlignmentState, situation: Situation) -> dict[str, Any]:
    """The variables expressions read this turn: the session's, this turn's values over them, and the
    built-ins (`message`, `intent`, `language`, `turn`), which nothing else can replace."""
    return {
        **state.variables,
        **situation.variables,
        "message": situation.message,
        "intent": situation.intent,
        "language": situation.language,
        "turn": state.turn,
    }
