"""Deterministic enforcement: hard rules' `check` expressions over the turn's variables and the reply.

Fail closed: a check that is false, cannot decide (a variable unknown) or cannot be evaluated is a
violation. Hard rules without a `check` are left to the judge model, whose "unclear" is a violation too.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from focal.alignment.config import AlignmentConfig
from focal.alignment.expressions import UNKNOWN, ExpressionError, compile_expression
from focal.alignment.rules import Rule
from focal.alignment.turn import Verdict

__all__ = ["check_hard_rules"]


def check_hard_rules(
    config: AlignmentConfig, rules: Iterable[Rule], variables: Mapping[str, Any], reply: str
) -> tuple[list[Verdict], list[Rule]]:
    """The verdicts of the hard rules among `rules` that have a `check`, and the hard rules left for the judge."""
    values = {**variables, "reply": reply}
    verdicts: list[Verdict] = []
    for_judge: list[Rule] = []
    for rule in rules:
        if not rule.hard:
            continue
        if rule.check is None:
            for_judge.append(rule)
            continue
        expression = config.expressions.get(rule.check)
        if expression is None:
            try:
                expression = compile_expression(rule.check)
            except ExpressionError as exc:
                verdicts.append(_violated(rule, f"check {rule.check!r} is invalid ({exc}): fail closed"))
                continue
        result = expression.evaluate(values)
        if result is UNKNOWN:
            missing = sorted(n for n in expression.names if values.get(n) is None)
            why = f"unknown {', '.join(missing)}" if missing else "values cannot be compared"
            verdicts.append(_violated(rule, f"check {rule.check!r} cannot decide ({why}): fail closed"))
        elif result:
            verdicts.append(
                Verdict(rule_id=rule.id, complies=True, by="expression", reason=f"check holds: {rule.check}")
            )
        else:
            verdicts.append(_violated(rule, f"check is false: {rule.check}"))
    return verdicts, for_judge


def _violated(rule: Rule, reason: str) -> Verdict:
    return Verdict(rule_id=rule.id, complies=False, by="expression", reason=reason)
