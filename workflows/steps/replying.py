"""`generation` and `enforcement`: write the reply, then check it against the hard rules, failing closed.

An EXCLUSIVE template of a rule that applies is the reply (no model). Enforcement checks hard rules'
`check` expressions first and asks the judge model only for hard rules without one. A violation, an
undecidable check, a judge error or an unclear verdict all count as a violation: the reply is written
again with the violations fed back (at most `max_regenerations` times), then a FALLBACK template, then
the profile's fallback reply. The reply sent never breaks a hard rule that was checked.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from agno.workflow import StepInput, StepOutput
from focal.agents import STEP_AGENTS, GeneratedReply, JudgeResult, generation_input, judge_input
from focal.workflows._turn import Turn, TurnServices, turn_of
from focal.workflows.steps.filtering import FilteringOutcome, rules_of

from focal.alignment import Rule, Template, TemplateMode, check_hard_rules
from focal.alignment.turn import EnforcementOutcome, GenerationAttempt, Verdict
from focal.errors import FocalError
from focal.execution import StructuredOutputError

__all__ = ["Enforced", "ReplySteps"]


@dataclass(frozen=True, slots=True)
class Enforced:
    reply: str
    attempts: tuple[GenerationAttempt, ...]
    outcome: EnforcementOutcome


class ReplySteps:
    def __init__(self, services: TurnServices) -> None:
        self.services = services

    async def generation(self, step_input: StepInput) -> StepOutput:
        turn = turn_of(step_input)
        filtered = rules_of(step_input)
        exclusive = _exclusive(turn, filtered)
        if exclusive is not None:
            template, text = exclusive
            turn.skip("generation", f"EXCLUSIVE template {template.id} is the reply")
            return StepOutput(
                content=GenerationAttempt(number=1, source="exclusive_template", reply=text, template_id=template.id)
            )
        reply = await self._write(turn, filtered, feedback=())
        return StepOutput(content=GenerationAttempt(number=1, source="model", reply=reply))

    async def _write(self, turn: Turn, filtered: FilteringOutcome, feedback: Sequence[Verdict]) -> str:
        config = turn.config
        rules = [config.rules_by_id[r] for r in filtered.applied]
        step = None
        if turn.state.active_scenario and turn.state.active_step:
            step = config.steps.get((turn.state.active_scenario, turn.state.active_step))
        prompt = generation_input(
            profile=config.profile,
            message=turn.message,
            rules=rules,
            step=step,
            tool_results=turn.tool_outcomes,
            templates=_suggestions(turn, rules),
            violations=list(feedback),
        )
        try:
            result, response = await self.services.executor.run_agent(
                STEP_AGENTS["generation"],
                prompt,
                turn.call_context("generation"),
                session_state=turn.tool_state,
                user_id=turn.user_id,
            )
        except StructuredOutputError as exc:  # no reply: enforcement refuses the empty attempt (see _verdicts)
            turn.note_unusable("generation", exc, "an empty attempt, refused by enforcement")
            return ""
        assert isinstance(result, GeneratedReply)
        turn.note_call("generation", response)
        return result.reply.strip()

    async def enforcement(self, step_input: StepInput) -> StepOutput:
        turn = turn_of(step_input)
        filtered = rules_of(step_input)
        first = step_input.get_step_content("generation")
        assert isinstance(first, GenerationAttempt)
        hard = [turn.config.rules_by_id[r] for r in filtered.applied if turn.config.rules_by_id[r].hard]
        if not hard:
            turn.skip("enforcement", "no hard rule applies this turn")
        elif not any(r.check is None for r in hard):
            turn.skip("enforcement", "every hard rule that applies has a check expression: no judge needed")
        attempts: list[GenerationAttempt] = []
        attempt = first
        violated: set[str] = set()
        while True:
            verdicts = await self._verdicts(turn, hard, attempt.reply)
            attempt = attempt.model_copy(update={"verdicts": tuple(verdicts)})
            attempts.append(attempt)
            if attempt.passed:
                status = "passed" if len(attempts) == 1 else "regenerated"
                if attempt.source == "fallback_template":
                    status = "fallback"
                elif not hard and len(attempts) == 1:
                    status = "not_checked"
                return StepOutput(content=_enforced(attempt.reply, attempts, status, violated))
            violated |= {v.rule_id for v in verdicts if not v.complies}
            regenerations = sum(1 for a in attempts if a.source == "model") - (1 if first.source == "model" else 0)
            if attempt.source in ("model", "exclusive_template") and regenerations < self.services.max_regenerations:
                failed = [v for v in verdicts if not v.complies]
                reply = await self._write(turn, filtered, feedback=failed)
                attempt = GenerationAttempt(number=len(attempts) + 1, source="model", reply=reply)
                continue
            fallback = _fallback_template(turn) if attempt.source != "fallback_template" else None
            if fallback is not None:
                template, text = fallback
                attempt = GenerationAttempt(
                    number=len(attempts) + 1, source="fallback_template", reply=text, template_id=template.id
                )
                continue
            reply = turn.config.profile.fallback_reply  # the last resort, written by the tenant: sent as is
            attempts.append(GenerationAttempt(number=len(attempts) + 1, source="profile_fallback", reply=reply))
            return StepOutput(content=_enforced(reply, attempts, "fallback", violated))

    async def _verdicts(self, turn: Turn, hard: list[Rule], reply: str) -> list[Verdict]:
        if not reply.strip():  # a model's answer that did not validate (a valid reply is never empty)
            return [Verdict(rule_id="reply", complies=False, by="expression", reason="no valid reply to check")]
        variables = {**turn.state.variables, **turn.variables}
        if turn.situation is not None:
            variables.update(message=turn.message, intent=turn.situation.intent, language=turn.situation.language)
        variables["turn"] = turn.state.turn
        verdicts, for_judge = check_hard_rules(turn.config, hard, variables, reply)
        limit = turn.config.profile.max_reply_chars
        if len(reply) > limit:
            verdicts.append(
                Verdict(
                    rule_id="max_reply_chars",
                    complies=False,
                    by="expression",
                    reason=f"{len(reply)} > {limit} characters",
                )
            )
        if for_judge:
            verdicts += await self._judge(turn, for_judge, reply, variables)
        return verdicts

    async def _judge(self, turn: Turn, rules: list[Rule], reply: str, variables: dict[str, Any]) -> list[Verdict]:
        """The judge's verdicts; an error, a missing verdict or "unclear" is a violation (fail closed)."""
        try:
            result, response = await self.services.executor.run_agent(
                STEP_AGENTS["enforcement"],
                judge_input(reply, rules, variables),
                turn.call_context("enforcement"),
                session_state=turn.tool_state,
                user_id=turn.user_id,
            )
        except FocalError as exc:
            reason = f"the judge failed ({type(exc).__name__}: {exc}): fail closed"
            return [Verdict(rule_id=r.id, complies=False, by="judge", reason=reason) for r in rules]
        assert isinstance(result, JudgeResult)
        turn.note_call("enforcement", response)
        verdicts = []
        for rule in rules:
            verdict = result.verdict_on(rule.id)  # a rule judged both ways: its violation decides
            if verdict is None:
                verdicts.append(Verdict(rule_id=rule.id, complies=False, by="judge", reason="no verdict: fail closed"))
            elif verdict.verdict == "complies":
                verdicts.append(Verdict(rule_id=rule.id, complies=True, by="judge", reason=verdict.reason))
            else:
                why = "unclear: fail closed" if verdict.verdict == "unclear" else "violates"
                verdicts.append(Verdict(rule_id=rule.id, complies=False, by="judge", reason=f"{why}: {verdict.reason}"))
        return verdicts


def _enforced(reply: str, attempts: list[GenerationAttempt], status: str, violated: set[str]) -> Enforced:
    outcome = EnforcementOutcome(status=status, attempts=len(attempts), violations=tuple(sorted(violated)))  # type: ignore[arg-type]
    return Enforced(reply=reply, attempts=tuple(attempts), outcome=outcome)


def _variables(turn: Turn) -> dict[str, Any]:
    return {**turn.state.variables, **turn.variables}


def _templates_in_scope(turn: Turn) -> list[Template]:
    state = turn.state
    return [
        t
        for t in turn.config.templates.values()
        if t.scope.value == "global"
        or (t.scope.value == "scenario" and t.scope_id == state.active_scenario)
        or (t.scope.value == "step" and t.scope_id == f"{state.active_scenario}/{state.active_step}")
    ]


def _exclusive(turn: Turn, filtered: FilteringOutcome) -> tuple[Template, str] | None:
    """The first EXCLUSIVE template of the rules that apply (by priority) that renders with what is known."""
    for rule_id in filtered.applied:
        for template_id in turn.config.rules_by_id[rule_id].templates:
            template = turn.config.templates.get(template_id)
            if template is not None and template.mode is TemplateMode.EXCLUSIVE:
                text = template.render(_variables(turn))
                if text is not None:
                    return template, text
    return None


def _suggestions(turn: Turn, rules: list[Rule]) -> dict[str, str]:
    """SUGGEST templates of the rules that apply, rendered, by id."""
    ids = [t for r in rules for t in r.templates]
    out: dict[str, str] = {}
    for template_id in dict.fromkeys(ids):
        template = turn.config.templates.get(template_id)
        if template is not None and template.mode is TemplateMode.SUGGEST:
            text = template.render(_variables(turn))
            if text is not None:
                out[template_id] = text
    return out


def _fallback_template(turn: Turn) -> tuple[Template, str] | None:
    """The FALLBACK template in the narrowest scope (step, scenario, global) that renders."""
    order = {"step": 0, "scenario": 1, "global": 2}
    candidates = sorted(
        (t for t in _templates_in_scope(turn) if t.mode is TemplateMode.FALLBACK),
        key=lambda t: (order[t.scope.value], t.id),
    )
    for template in candidates:
        text = template.render(_variables(turn))
        if text is not None:
            return template, text
    return None
