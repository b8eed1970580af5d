"""A fake model's answers for every step agent: valid typed outputs with no network, for tests and
benchmarks of whole turns (`FakeModels(default=...)` takes one callable for every model).

    answers = StepAnswers(extract=lambda message: {"intent": "order_status", ...})
    focal = Focal.open(settings, model_factory=FakeModels(default=answers).factory)
    answers.calls  # {"context_extraction": 1, ...}

The step is recognised by its agent's instructions in the system message; the rules a filtering or
judge call must answer for are read from the `## Rules` section its input builder wrote.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from focal.agents import STEP_AGENTS

__all__ = ["StepAnswers", "step_of"]

_RULE_LINE = re.compile(r"^- ([^:\s]+):", re.MULTILINE)


def _first_line(agent_name: str) -> str:
    instructions = STEP_AGENTS[agent_name].instructions
    text = instructions if isinstance(instructions, str) else "\n".join(instructions or [])
    return text.strip().splitlines()[0]


_MARKERS: Mapping[str, str] = {step: _first_line(step) for step in STEP_AGENTS}


def step_of(messages: Sequence[Any]) -> str:
    """The step whose agent wrote these messages (by its instructions in the system message)."""
    system = "\n".join(str(m.content) for m in messages if getattr(m, "role", None) == "system")
    for step, marker in _MARKERS.items():
        if marker in system:
            return step
    raise LookupError("not a Focal step agent's call: no step's instructions in the system message")


def _section(text: str, title: str) -> str:
    start = text.find(f"## {title}\n")
    if start < 0:
        return ""
    body = text[start + len(title) + 4 :]
    end = body.find("\n## ")
    return body if end < 0 else body[:end]


def _listed_rules(text: str) -> list[str]:
    return _RULE_LINE.findall(_section(text, "Rules"))


class StepAnswers:
    """Answers each step's call from the step's input; every part can be replaced.

    Args:
        extract: the message → the context extraction's snapshot (a dict of `SituationSnapshot`'s
            fields); by default intent "other", nothing else.
        keep: whether a rule applies (by id), for rule filtering and for the rules context extraction
            judges; by default every listed rule.
        scenario: the scenario decision (a dict of `ScenarioDecision`'s fields); by default "continue".
        reply: the message → the generated reply's text.
        verdict: the judge's verdict on a rule (by id): "complies", "violates" or "unclear".
    """

    def __init__(
        self,
        *,
        extract: Callable[[str], Mapping[str, Any]] | None = None,
        keep: Callable[[str], bool] = lambda rule_id: True,
        scenario: Mapping[str, Any] | None = None,
        reply: Callable[[str], str] = lambda message: "Thanks for your message. Let me help you with that.",
        verdict: Callable[[str], str] = lambda rule_id: "complies",
    ) -> None:
        self.extract = extract or (lambda message: {"intent": "other"})
        self.keep = keep
        self.scenario = dict(scenario or {"action": "continue", "reason": "the conversation goes on"})
        self.reply = reply
        self.verdict = verdict
        self.calls: dict[str, int] = {step: 0 for step in STEP_AGENTS}

    def __call__(self, messages: Sequence[Any]) -> str:
        step = step_of(messages)
        self.calls[step] += 1
        text = str(messages[-1].content)
        message = _section(text, "Message").strip()
        if step == "context_extraction":
            snapshot = {
                "language": "en",
                "facts": [],
                "variables": [],
                "scenario_signal": None,
                "wants_to_leave": False,
                "rules": self._decisions(text),
            }
            return json.dumps(snapshot | dict(self.extract(message)))
        if step == "rule_filtering":
            return json.dumps({"decisions": self._decisions(text)})
        if step == "scenario_filtering":
            return json.dumps(self.scenario)
        if step == "generation":
            return json.dumps({"reply": self.reply(message), "rule_ids": [], "template_ids": []})
        verdicts = [{"rule_id": r, "verdict": self.verdict(r), "reason": "scripted"} for r in _listed_rules(text)]
        return json.dumps({"verdicts": verdicts})

    def _decisions(self, text: str) -> list[dict[str, Any]]:
        """A decision (`keep`) on every rule listed under `## Rules` in a step's input."""
        return [{"rule_id": r, "applies": self.keep(r), "reason": "scripted"} for r in _listed_rules(text)]
