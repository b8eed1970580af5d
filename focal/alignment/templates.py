"""Templates: canned replies with `{placeholders}` filled from turn variables and tool results."""

from __future__ import annotations

import string
from enum import StrEnum

from pydantic import Field, model_validator

from focal.alignment._base import Frozen, Identifier, LongText, Scope

__all__ = ["Template", "TemplateMode", "placeholders"]


class TemplateMode(StrEnum):
    """SUGGEST: offered to the model as wording. EXCLUSIVE: sent as is, no model writes the reply.
    FALLBACK: sent when no safe reply is left (enforcement gave up)."""

    SUGGEST = "suggest"
    EXCLUSIVE = "exclusive"
    FALLBACK = "fallback"


def placeholders(text: str) -> set[str]:
    """The `{names}` in `text` (`{{` and `}}` are literal braces)."""
    return {field for _, field, _, _ in string.Formatter().parse(text) if field}


class Template(Frozen):
    id: Identifier
    mode: TemplateMode = TemplateMode.SUGGEST
    text: LongText
    scope: Scope = Scope.GLOBAL
    scope_id: str | None = None
    trigger_intent: str | None = Field(default=None, max_length=100)
    trigger_expression: str | None = Field(default=None, max_length=500)

    @model_validator(mode="after")
    def _consistent(self) -> Template:
        try:
            placeholders(self.text)
        except ValueError as exc:
            raise ValueError(f"text has a malformed placeholder: {exc}") from None
        if self.scope is Scope.GLOBAL and self.scope_id is not None:
            raise ValueError("a global template has no scope_id")
        if self.scope is not Scope.GLOBAL and not self.scope_id:
            raise ValueError(f"a {self.scope.value}-scoped template needs scope_id")
        return self

    def render(self, variables: dict[str, object]) -> str | None:
        """The text with every placeholder filled, or None if one has no value."""
        values = {name: variables.get(name) for name in placeholders(self.text)}
        if any(v is None for v in values.values()):
            return None
        return self.text.format(**values)
