"""Shared pieces of the alignment domain: frozen pydantic models, ids, scopes, variables."""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

__all__ = ["MAX_TEXT_CHARS", "Frozen", "Identifier", "LongText", "Scope", "ShortText", "VariableSpec"]

MAX_TEXT_CHARS = 4000
"""Longest instruction, action or template text: longer ones bloat every prompt they go into."""

Identifier = Annotated[str, StringConstraints(pattern=r"^[a-z][a-z0-9_\-]{0,63}$")]
"""Lowercase ids: letters, digits, `_` and `-`, starting with a letter, at most 64 characters."""
ShortText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]
LongText = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT_CHARS)]


class Frozen(BaseModel):
    """Immutable, strict about unknown keys (a typo in YAML is an error, not a silently ignored key)."""

    model_config = ConfigDict(frozen=True, extra="forbid", use_enum_values=False)


class Scope(StrEnum):
    """Where a rule or template applies: always, inside one scenario, or at one step of a scenario."""

    GLOBAL = "global"
    SCENARIO = "scenario"
    STEP = "step"


VARIABLE_TYPES = ("string", "number", "integer", "boolean")


class VariableSpec(Frozen):
    """A turn variable: its name, type and, for strings, the pattern a value must match in full."""

    name: Identifier
    type: Literal["string", "number", "integer", "boolean"] = "string"
    pattern: str | None = Field(default=None, max_length=300)
    description: str = Field(default="", max_length=500)

    def validate_value(self, value: object) -> object | None:
        """`value` converted to this variable's type if it is valid, else None."""
        if value is None:
            return None
        try:
            if self.type == "boolean":
                if isinstance(value, bool):
                    return value
                text = str(value).strip().lower()
                return {"true": True, "yes": True, "false": False, "no": False}.get(text)
            if self.type == "integer":
                number = float(value)  # type: ignore[arg-type]
                return int(number) if number.is_integer() else None
            if self.type == "number":
                return float(value)  # type: ignore[arg-type]
        except (TypeError, ValueError):
            return None
        text = str(value).strip()
        if self.pattern and re.fullmatch(self.pattern, text) is None:
            return None
        return text
