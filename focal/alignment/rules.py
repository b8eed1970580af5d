"""Rules: when a condition holds, the agent does something; some are hard constraints on the reply."""

from __future__ import annotations

from pydantic import Field, model_validator

from focal.alignment._base import Frozen, Identifier, LongText, Scope, ShortText
from focal.alignment.bindings import ToolBinding

__all__ = ["Rule"]


class Rule(Frozen):
    """`when` (text for the model, or `when_expression` decided without one) → `then`.

    - `scope` / `scope_id`: `global` (no id), `scenario` (a scenario id) or `step` (`scenario_id/step_id`).
    - `hard`: the sent reply must never break it; `check` is an expression over turn variables that
      decides it without a model (otherwise a judge does).
    - `overrides`: when both apply, this rule wins and the others are dropped (with the reason).
    - `requires`: this rule applies only if all of these applied too.
    """

    id: Identifier
    name: ShortText
    when: LongText | None = None
    when_expression: str | None = Field(default=None, max_length=500)
    then: LongText
    scope: Scope = Scope.GLOBAL
    scope_id: str | None = None
    priority: int = Field(default=0, ge=-1000, le=1000)
    enabled: bool = True
    max_fires_per_session: int | None = Field(default=None, ge=1)
    cooldown_turns: int = Field(default=0, ge=0)
    hard: bool = False
    check: str | None = Field(default=None, max_length=500)
    tools: tuple[ToolBinding, ...] = ()
    templates: tuple[Identifier, ...] = ()
    overrides: tuple[Identifier, ...] = ()
    requires: tuple[Identifier, ...] = ()

    @model_validator(mode="after")
    def _consistent(self) -> Rule:
        if self.when is None and self.when_expression is None:
            raise ValueError("a rule needs `when` (text) or `when_expression`; an always-on rule is not allowed")
        if self.scope is Scope.GLOBAL and self.scope_id is not None:
            raise ValueError("a global rule has no scope_id")
        if self.scope is not Scope.GLOBAL and not self.scope_id:
            raise ValueError(f"a {self.scope.value}-scoped rule needs scope_id")
        if self.scope is Scope.STEP and self.scope_id is not None and self.scope_id.count("/") != 1:
            raise ValueError("a step scope_id is `scenario_id/step_id`")
        if self.check is not None and not self.hard:
            raise ValueError("`check` decides a hard rule: set `hard: true` or drop it")
        if self.id in self.overrides or self.id in self.requires:
            raise ValueError("a rule cannot override or require itself")
        return self
