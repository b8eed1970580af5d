"""What the step modules share: the base of every model output, its field types, and compact text.

Outputs are strict about meaning (a confidence above 1, an unknown verdict or action, an empty id is
rejected) and lenient about form, because small local models answer too: unknown keys are ignored,
numbers are accepted where text is expected, over-long text is clipped rather than refused, and an
entry of a list that is invalid is left out (`Entries`) rather than failing the whole answer: the
caller then sees no decision or verdict for it: a rule without a filtering decision does not apply,
unless it is a hard rule (then it applies: enforcement checks the reply against it), and a hard rule
without a judge's verdict is violated. Their JSON
schema carries no `default` and no `title` (OpenAI's strict structured outputs refuse `default`) and no
length keywords; every limit is applied by a validator instead.

Input text is plain Markdown-like sections, built deterministically: the same objects give the same
text, byte for byte.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import Annotated, Any, Final, TypeVar

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, ValidationError, WrapValidator
from pydantic_core.core_schema import ValidatorFunctionWrapHandler

from focal.alignment import Situation

__all__ = [
    "HISTORY_ENTRIES",
    "Entries",
    "History",
    "Id",
    "ModelOutput",
    "OptionalId",
    "ShortText",
    "clip",
    "history_section",
    "join_sections",
    "section",
    "situation_section",
    "value_text",
]

SHORT_TEXT_CHARS: Final = 300
"""The longest reason or fact kept from a model's answer (longer ones are clipped)."""
HISTORY_ENTRIES: Final = 6
"""How many earlier messages of the conversation an input shows (the most recent ones)."""
HISTORY_CHARS: Final = 300

History = Sequence[tuple[str, str]]
"""Earlier messages, oldest first, as (role, text); role is "user" or "agent"."""


def _wire_schema(schema: dict[str, Any]) -> None:
    """Drop what strict structured-output APIs refuse or do not need: titles and defaults."""
    schema.pop("title", None)
    for prop in schema.get("properties", {}).values():
        prop.pop("title", None)
        prop.pop("default", None)


class ModelOutput(BaseModel):
    """Base of every step's output: frozen, lenient about form, strict about meaning (module docstring)."""

    model_config = ConfigDict(frozen=True, extra="ignore", coerce_numbers_to_str=True, json_schema_extra=_wire_schema)


def clip(text: str, limit: int) -> str:
    """`text` on one line (whitespace runs collapsed), cut to `limit` characters with a trailing `…`."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: max(0, limit - 1)].rstrip() + "…"


def _as_text(value: Any) -> Any:
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


def _short(value: str) -> str:
    return clip(value, SHORT_TEXT_CHARS)


def _id(value: str) -> str:
    value = value.strip()
    if not value:
        raise ValueError("an id cannot be empty")
    return value


def _optional_id(value: Any) -> Any:
    """Small models write "" or "none" for "no id": both mean None."""
    if value is None or (isinstance(value, str) and value.strip().lower() in ("", "none", "null")):
        return None
    return value


Id = Annotated[str, AfterValidator(_id)]
"""An id copied from the input (surrounding spaces dropped; never empty)."""
OptionalId = Annotated[str | None, BeforeValidator(_optional_id), AfterValidator(lambda v: _id(v) if v else v)]
ShortText = Annotated[str, BeforeValidator(_as_text), AfterValidator(_short)]
"""A reason or fact: one line, clipped to `SHORT_TEXT_CHARS`."""


def _valid_entries(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Validate a list entry by entry, leaving out the entries that fail."""
    if not isinstance(value, list | tuple):
        return handler(value)
    kept: list[Any] = []
    for entry in value:
        try:
            kept.extend(handler([entry]))
        except ValidationError:
            continue
    return tuple(kept)


_Entry = TypeVar("_Entry")
Entries = Annotated[tuple[_Entry, ...], WrapValidator(_valid_entries)]
"""`Entries[X]`: a tuple of X whose invalid entries are left out (a model's one bad entry does not cost
the whole answer)."""


def value_text(value: Any, limit: int) -> str:
    """A variable's or tool output's value as compact text: strings as they are, the rest as JSON with
    sorted keys; clipped to `limit`."""
    if isinstance(value, str):
        return clip(value, limit)
    return clip(json.dumps(value, sort_keys=True, ensure_ascii=False, default=str), limit)


def section(title: str, lines: Iterable[str]) -> str:
    """`## title` and its lines, or "" when there are none."""
    body = "\n".join(lines)
    return f"## {title}\n{body}" if body else ""


def join_sections(*sections: str) -> str:
    """The non-empty sections, a blank line apart."""
    return "\n\n".join(s for s in sections if s)


def history_section(history: History) -> str:
    """The last `HISTORY_ENTRIES` messages of the conversation, one per line."""
    recent = list(history)[-HISTORY_ENTRIES:]
    return section("Conversation so far", (f"{role}: {clip(text, HISTORY_CHARS)}" for role, text in recent))


def situation_section(situation: Situation | None) -> str:
    """What context extraction found: the intent and the candidate values, by name."""
    if situation is None:
        return ""
    lines = [f"intent: {situation.intent}"] if situation.intent else []
    lines += [f"{k}: {value_text(v, 80)}" for k, v in sorted(situation.variables.items()) if v is not None]
    return section("Context", lines)
