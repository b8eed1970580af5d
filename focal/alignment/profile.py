"""The agent's profile: who it is, how it speaks, what it says when nothing safe is left."""

from __future__ import annotations

from pydantic import Field

from focal.alignment._base import Frozen, Identifier, LongText, ShortText, VariableSpec

__all__ = ["AgentProfile"]


class AgentProfile(Frozen):
    agent_id: Identifier
    name: ShortText
    persona: LongText
    default_language: str = Field(default="en", pattern=r"^[a-z]{2}(-[A-Z]{2})?$")
    max_reply_chars: int = Field(default=1200, ge=50, le=20_000)
    fallback_reply: LongText
    variables: tuple[VariableSpec, ...] = ()
    """Turn variables the agent knows besides those its scenarios collect (e.g. `refund_amount`)."""
