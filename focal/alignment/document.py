"""Everything an agent obeys, as one value, and its version: the content hash."""

from __future__ import annotations

import hashlib
import json
from typing import Any

from focal.alignment._base import Frozen
from focal.alignment.profile import AgentProfile
from focal.alignment.rules import Rule
from focal.alignment.scenarios import Scenario
from focal.alignment.templates import Template

__all__ = ["BUILTIN_VARIABLES", "AlignmentDocument"]

BUILTIN_VARIABLES = frozenset({"message", "intent", "language", "turn", "reply"})
"""Variables every turn has: the user's message, the extracted intent and language, the turn number; and
`reply`, the reply being checked (known only to hard rules' `check` expressions, undecided elsewhere)."""


class AlignmentDocument(Frozen):
    """An agent's whole configuration: profile, rules, templates, scenarios."""

    profile: AgentProfile
    rules: tuple[Rule, ...] = ()
    templates: tuple[Template, ...] = ()
    scenarios: tuple[Scenario, ...] = ()

    def canonical(self) -> dict[str, Any]:
        """The content in a canonical order (by id): what the version hashes and what is stored."""
        data = self.model_dump(mode="json")
        for key in ("rules", "templates", "scenarios"):
            data[key] = sorted(data[key], key=lambda item: item["id"])
        return data

    @property
    def version(self) -> str:
        """`v-` and 16 hex digits of the SHA-256 of the canonical content: same content, same version;
        any change (a word, a priority, a flag), a new one. The order items are written in does not count."""
        payload = json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        return "v-" + hashlib.sha256(payload.encode("utf-8")).hexdigest()[:16]

    @property
    def agent_id(self) -> str:
        return self.profile.agent_id

    def known_variables(self, tool_outputs: frozenset[str] = frozenset()) -> frozenset[str]:
        """Every variable a turn of this agent can have: built-ins, the profile's, those scenario steps
        collect, tool results (by binding) and the fields tools are declared to return."""
        names = set(BUILTIN_VARIABLES) | {v.name for v in self.profile.variables} | set(tool_outputs)
        bindings = [b for r in self.rules for b in r.tools]
        for scenario in self.scenarios:
            for step in scenario.steps:
                names.update(v.name for v in step.collects)
                bindings.extend(step.tools)
        names.update(b.result_variable for b in bindings)
        return frozenset(names)
