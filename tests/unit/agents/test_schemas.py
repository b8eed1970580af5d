"""Every step's output validates what a model should answer and refuses what it must not."""

from __future__ import annotations

import json

import pytest
from focal.agents import (
    GeneratedReply,
    JudgeResult,
    JudgeVerdict,
    RuleFilterResult,
    ScenarioDecision,
    SituationSnapshot,
)
from pydantic import ValidationError

SNAPSHOT = {
    "intent": "Refund request",
    "language": "EN-us",
    "facts": ["the item is broken"],
    "variables": [
        {"name": "order_id", "value": "ORD-12345", "confidence": 0.9},
        {"name": "order_id", "value": "ORD-99999", "confidence": 0.95},
        {"name": "reason", "value": "broken", "confidence": 0.4},
        {"name": "quantity", "value": 2, "confidence": 1},
        {"name": "vip", "value": True, "confidence": 0.8},
        {"name": "empty", "value": " ", "confidence": 0.9},
    ],
    "scenario_signal": "refund",
    "wants_to_leave": False,
    "mood": "annoyed",
}


def test_a_snapshot_is_read_leniently_in_form() -> None:
    snapshot = SituationSnapshot.model_validate_json(json.dumps(SNAPSHOT))
    assert snapshot.intent == "refund_request" and snapshot.language == "en"
    assert snapshot.variables[3].value == "2" and snapshot.variables[4].value == "true"
    assert snapshot.scenario_signal == "refund"
    with pytest.raises(ValidationError):
        snapshot.intent = "other"  # type: ignore[misc]  # frozen


def test_variables_dict_keeps_the_confident_values_for_validate_variables() -> None:
    snapshot = SituationSnapshot.model_validate(SNAPSHOT)
    assert snapshot.variables_dict() == {"order_id": "ORD-99999", "quantity": "2", "vip": "true"}
    assert snapshot.variables_dict(min_confidence=0.0)["reason"] == "broken"
    assert list(snapshot.variables_dict(min_confidence=0.0)) == ["order_id", "quantity", "reason", "vip"]


def test_a_minimal_snapshot_has_defaults_and_unknown_languages_become_empty() -> None:
    snapshot = SituationSnapshot.model_validate({"language": "English", "scenario_signal": "", "facts": ["x"] * 30})
    assert (snapshot.intent, snapshot.language, snapshot.scenario_signal) == ("", "", None)
    assert len(snapshot.facts) == 10 and snapshot.variables_dict() == {}


@pytest.mark.parametrize("confidence", [1.01, -0.1, "sure"])
def test_a_confidence_outside_0_to_1_is_refused(confidence: object) -> None:
    bad = {"variables": [{"name": "order_id", "value": "ORD-12345", "confidence": confidence}]}
    assert SituationSnapshot.model_validate(bad).variables == ()  # the entry is left out, not the answer


def test_a_variable_needs_a_name() -> None:
    snapshot = SituationSnapshot.model_validate({"variables": [{"name": " ", "value": "x", "confidence": 0.9}]})
    assert snapshot.variables == ()


def test_rule_filter_results() -> None:
    result = RuleFilterResult.model_validate(
        {
            "decisions": [
                {"rule_id": " greet ", "applies": "yes", "reason": "the user says hello " * 40},
                {"rule_id": "refund_limit", "applies": False, "reason": "no refund"},
                {"rule_id": "order_status", "applies": True, "reason": "asks"},
                {"rule_id": "order_status", "applies": False, "reason": "changed its mind"},
            ]
        }
    )
    assert result.decisions[0].rule_id == "greet" and result.decisions[0].applies is True
    assert len(result.decisions[0].reason) <= 300 and result.decisions[0].reason.endswith("…")
    assert result.applied_ids() == ("greet",), "a rule answered both ways does not apply"
    with pytest.raises(ValidationError):
        RuleFilterResult.model_validate({})
    unsure = {"decisions": [{"rule_id": "greet", "applies": "perhaps", "reason": ""}]}
    assert RuleFilterResult.model_validate(unsure).decisions == ()  # no decision: the rule does not apply


@pytest.mark.parametrize(
    ("answer", "expected"),
    [
        ({"action": "Start", "scenario_id": "refund", "step_id": "", "reason": "asks"}, ("start", "refund", None)),
        ({"action": "transition", "scenario_id": None, "step_id": "confirm"}, ("transition", None, "confirm")),
        ({"action": "continue", "scenario_id": "none"}, ("continue", None, None)),
        ({"action": "exit", "reason": "wants to stop"}, ("exit", None, None)),
    ],
)
def test_scenario_decisions(answer: dict[str, object], expected: tuple[object, ...]) -> None:
    decision = ScenarioDecision.model_validate(answer)
    assert (decision.action, decision.scenario_id, decision.step_id) == expected


@pytest.mark.parametrize(
    "answer",
    [
        {"action": "pause"},
        {"action": "start", "scenario_id": None},
        {"action": "transition", "step_id": ""},
        {"scenario_id": "refund"},
    ],
)
def test_a_scenario_decision_must_be_known_and_name_its_target(answer: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        ScenarioDecision.model_validate(answer)


def test_generated_replies() -> None:
    reply = GeneratedReply.model_validate({"reply": "  Hello!  ", "rule_ids": ["greet"], "template_ids": []})
    assert reply.reply == "Hello!" and reply.rule_ids == ("greet",)
    assert GeneratedReply.model_validate({"reply": "Hi"}).template_ids == ()
    for bad in ({"reply": "  "}, {"rule_ids": ["greet"]}):
        with pytest.raises(ValidationError):
            GeneratedReply.model_validate(bad)
    assert GeneratedReply.model_validate({"reply": "Hi", "rule_ids": ["", "greet"]}).rule_ids == ("greet",)


def test_judge_verdicts_fail_closed() -> None:
    result = JudgeResult.model_validate(
        {
            "verdicts": [
                {"rule_id": "refund_limit", "verdict": "COMPLIES", "reason": "40 USD"},
                {"rule_id": "no_profanity", "verdict": "unclear", "reason": "slang?"},
                {"rule_id": "tone", "verdict": "complies", "reason": "ok"},
                {"rule_id": "tone", "verdict": "violates", "reason": "rude"},
            ]
        }
    )
    assert result.verdicts[0].verdict == "complies"
    assert result.complies("refund_limit") is True
    assert result.complies("no_profanity") is False, "unclear is a violation"
    assert result.complies("tone") is False, "conflicting verdicts are a violation"
    assert result.complies("never_judged") is False, "a missing verdict is a violation"


@pytest.mark.parametrize("verdict", ["pass", "ok", "", None])
def test_an_unknown_verdict_is_refused(verdict: object) -> None:
    with pytest.raises(ValidationError):
        JudgeVerdict.model_validate({"rule_id": "refund_limit", "verdict": verdict, "reason": "x"})


def test_a_bad_entry_is_left_out_not_the_whole_answer() -> None:
    reply = GeneratedReply.model_validate_json('{"reply": "Hi", "rule_ids": ["", " greeting "], "template_ids": [""]}')
    assert reply.rule_ids == ("greeting",) and reply.template_ids == ()
    snapshot = SituationSnapshot.model_validate(
        {
            "rules": [
                {"rule_id": "", "applies": True, "reason": "?"},
                {"rule_id": "greeting", "applies": True, "reason": "hi"},
            ],
            "variables": [{"name": "order_number", "value": "ORD-1", "confidence": 7}],
        }
    )
    assert [d.rule_id for d in snapshot.rules] == ["greeting"]
    assert snapshot.variables == ()  # a confidence of 7 is no confidence
    judged = JudgeResult.model_validate({"verdicts": [{"rule_id": "no_profanity", "verdict": "maybe"}]})
    assert judged.verdicts == () and judged.complies("no_profanity") is False  # no verdict: a violation
