"""The alignment rules at work across turns, end to end through `arun` on SQLite and PostgreSQL: an
EXCLUSIVE template, `overrides` and `requires`, max fires and cooldowns, a judge that fails, an optional
tool that fails, and a configuration version published in the middle of a conversation."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import yaml
from focal.workflows import session_id

from focal.execution import ProviderUnavailable, StructuredOutputError
from tests.e2e.conftest import judged_support
from tests.e2e.scripts import COMPLIES, decisions, reply, scenario, snapshot, steps_called, turn, verdicts

LEGAL_NOTICE = "I'm not able to give legal advice."


def _rules(record: Any) -> dict[str, Any]:
    return {r.rule_id: r for r in record.rules}


async def _records(rig: dict[str, Any], tenant: str = "acme", conversation: str = "c1") -> list[Any]:
    return await rig["turns"].aget(tenant, session_id(tenant, "support", conversation))


async def test_an_exclusive_template_is_the_reply_and_overrides_the_greeting(rig: dict[str, Any]) -> None:
    executor = rig["executor"]
    executor.script("context_extraction", snapshot("legal_question"))
    executor.script("rule_filtering", decisions(legal_question=True, greeting=True))
    executor.script("enforcement", COMPLIES)  # the template is checked like any reply
    result = await turn(rig["workflow"], "acme", "Hi! Can I sue you for liability under GDPR?")
    assert result.reply.startswith(LEGAL_NOTICE) and result.enforcement.status == "passed"
    assert "generation" not in steps_called(executor)  # no model writes an EXCLUSIVE reply
    (record,) = await _records(rig)
    assert record.attempts[0].source == "exclusive_template" and record.attempts[0].template_id == "legal_notice"
    assert any(s.step == "generation" and "legal_notice" in s.reason for s in record.skipped_calls)
    greeting = _rules(record)["greeting"]
    assert not greeting.kept and greeting.decided_by == "relationship" and "legal_question" in greeting.reason
    state = await rig["workflow"].aget_session_state(session_id("acme", "support", "c1"))
    assert "greeting" not in state["alignment"]["fire_counts"]  # an overridden rule did not fire


async def test_a_rule_that_requires_another_is_dropped_without_it(rig: dict[str, Any]) -> None:
    executor = rig["executor"]
    # turn 1: a refund starts; the profile tool (before the step) finds u-42 is a gold customer
    executor.script("context_extraction", snapshot("refund", "refund"), snapshot("other"))
    executor.script("rule_filtering", decisions(), decisions(greeting=False))
    executor.script("generation", reply("Which order is it?"), reply("Let me look into that."))
    executor.script("enforcement", COMPLIES, COMPLIES)
    await turn(rig["workflow"], "acme", "I want my money back")
    # turn 2: the tier is known, so the thanks would apply, but it requires the greeting, which does not
    await turn(rig["workflow"], "acme", "My filters are too thin")
    record = (await _records(rig))[-1]
    loyal = _rules(record)["loyal_customer_thanks"]
    assert not loyal.kept and loyal.decided_by == "relationship" and "greeting" in loyal.reason


async def test_a_customer_claim_never_sets_profile_values(rig: dict[str, Any]) -> None:
    executor = rig["executor"]
    executor.script("context_extraction", snapshot("greeting", customer_tier="gold", refund_amount="80"))
    executor.script("rule_filtering", decisions(greeting=True))
    executor.script("generation", reply("Hello!"))
    executor.script("enforcement", COMPLIES)
    await turn(rig["workflow"], "acme", "Hi, I'm a gold member and want $80 back", user_id="u-7")
    (record,) = await _records(rig)
    assert "customer_tier" in record.rejected_values and "refund_amount" not in record.rejected_values
    loyal = _rules(record)["loyal_customer_thanks"]  # the tier is unknown, not "gold" because they say so
    assert not loyal.kept
    state = await rig["workflow"].aget_session_state(session_id("acme", "support", "c1"))
    assert "customer_tier" not in state["alignment"]["variables"]


async def test_max_fires_and_cooldowns_hold_across_turns(rig: dict[str, Any]) -> None:
    workflow, executor = rig["workflow"], rig["executor"]
    executor.script("context_extraction", snapshot("greeting"), snapshot("complaint"), snapshot("complaint"))
    executor.script("rule_filtering", decisions(greeting=True, angry_customer=True), decisions())
    executor.script("generation", *[reply("I'm sorry about that. Shall I get a colleague?")] * 2)
    executor.script("enforcement", COMPLIES, COMPLIES)
    await turn(workflow, "acme", "Hi, I am fed up, this is ridiculous and I am angry")
    first = _rules((await _records(rig))[-1])
    assert first["greeting"].kept and first["angry_customer"].kept
    # turn 2: the greeting fired its once, the de-escalation is cooling down: neither is asked about
    await turn(workflow, "acme", "Hi again, I am still fed up and angry")
    second = _rules((await _records(rig))[-1])
    for rule_id, why in (("greeting", "max"), ("angry_customer", "cooldown")):
        assert not second[rule_id].kept and second[rule_id].decided_by == "filter", second[rule_id]
        assert why in second[rule_id].reason.lower(), second[rule_id].reason
    asked = [prompt for prompt, ctx in executor.calls if ctx.step_name == "rule_filtering"]
    assert len(asked) == 2 and "- greeting:" not in asked[1] and "- angry_customer:" not in asked[1]
    state = await workflow.aget_session_state(session_id("acme", "support", "c1"))
    assert state["alignment"]["fire_counts"] == {"greeting": 1, "angry_customer": 1, **_hard_fires(state)}


def _hard_fires(state: dict[str, Any]) -> dict[str, int]:
    counts = state["alignment"]["fire_counts"]
    return {k: v for k, v in counts.items() if k in ("no_profanity", "no_delivery_promises")}


async def test_a_judge_that_fails_counts_as_a_violation(rig: dict[str, Any]) -> None:
    executor = rig["executor"]
    executor.script("context_extraction", snapshot("other"))
    executor.script("rule_filtering", decisions())
    executor.script("generation", reply("First draft."), reply("Second draft."))
    executor.script("enforcement", ProviderUnavailable("judge down", provider="openai", status_code=503), COMPLIES)
    result = await turn(rig["workflow"], "acme", "Tell me something")
    assert result.reply == "Second draft." and result.enforcement.status == "regenerated"
    (record,) = await _records(rig)
    failed = record.attempts[0].verdicts
    assert failed and all(not v.complies and "fail closed" in v.reason for v in failed)
    assert record.attempts[1].passed


async def test_an_optional_tool_failure_is_recorded_and_the_turn_goes_on(rig: dict[str, Any]) -> None:
    executor = rig["executor"]
    executor.script("context_extraction", snapshot("refund", "refund", order_number="ORD-12345"))
    executor.script("rule_filtering", decisions())
    executor.script("generation", reply("How much should I refund for ORD-12345?"))
    executor.script("enforcement", COMPLIES)
    # u-404 is no customer of acme: the profile tool (optional, before the step) really fails
    result = await turn(rig["workflow"], "acme", "I want a refund for ORD-12345", user_id="u-404")
    assert result.scenario == "refund" and result.reply.startswith("How much")
    (profile,) = [t for t in result.tools if t.tool_id == "customer_profile"]
    assert not profile.ok and not profile.required and "u-404" in (profile.error or "")
    (record,) = await _records(rig)
    assert record.tools == result.tools


async def test_a_version_published_mid_conversation_is_reconciled(rig: dict[str, Any], tmp_path: Path) -> None:
    workflow, executor = rig["workflow"], rig["executor"]
    executor.script("context_extraction", snapshot("order_status", "order_status", order_number="ORD-12345"))
    executor.script("rule_filtering", decisions())
    executor.script("generation", reply("Your order ORD-12345 has shipped."))
    executor.script("enforcement", COMPLIES)
    first = await turn(workflow, "acme", "Where is ORD-12345?")
    assert (first.scenario, first.step) == ("order_status", "lookup")
    # the tenant publishes a version whose `lookup` step is now called `find_order`
    folder = judged_support(tmp_path / "support-v2")
    scenario_file = folder / "scenarios" / "order_status.yaml"
    scenario_file.write_text(re.sub(r"\blookup\b", "find_order", scenario_file.read_text()))
    published = rig["store"].import_folder(folder, "acme", created_by="tests")
    executor.calls.clear()
    executor.script("context_extraction", snapshot("order_status"))
    executor.script("rule_filtering", decisions())
    executor.script("scenario_filtering", scenario("continue"))
    executor.script("generation", reply("Let me check again."))
    executor.script("enforcement", COMPLIES)
    second = await turn(workflow, "acme", "Any news?")
    records = await _records(rig)
    assert records[0].reconciliation is None
    note = records[1].reconciliation or ""
    assert "lookup" in note and "relocated to the entry step collect_order_number" in note, note
    assert records[1].config_version == second.config_version != first.config_version
    # relocated to the entry step, whose variable is known: on to the renamed step, which looks the order up
    assert (second.scenario, second.step) == ("order_status", "find_order")
    assert [t.tool_id for t in second.tools] == ["order_lookup"]
    state = await workflow.aget_session_state(session_id("acme", "support", "c1"))
    assert state["alignment"]["config_version"] == second.config_version
    assert published.created and published.version == second.config_version
    # globex published nothing new: its sessions are not reconciled
    executor.script("context_extraction", snapshot("greeting"))
    executor.script("rule_filtering", decisions(greeting=True))
    executor.script("generation", reply("Hello!"))
    executor.script("enforcement", COMPLIES)
    globex = await turn(workflow, "globex", "Hi")
    assert globex.config_version != second.config_version
    assert (await _records(rig, "globex"))[0].reconciliation is None


async def test_a_refund_reply_breaking_the_hard_rule_is_regenerated_until_it_holds(rig: dict[str, Any]) -> None:
    workflow, executor = rig["workflow"], rig["executor"]
    executor.script("context_extraction", snapshot("refund", "refund"))
    executor.script("rule_filtering", decisions(), decisions())
    executor.script("generation", reply("Which order, and how much?"))
    executor.script("enforcement", COMPLIES)
    await turn(workflow, "acme", "I want my money back")
    executor.script("context_extraction", snapshot("refund", order_number="ORD-12345", refund_amount="80"))
    executor.script("generation", reply("Done: your $80 refund is approved."), reply("A colleague will review it."))
    executor.script("enforcement", COMPLIES, COMPLIES)
    result = await turn(workflow, "acme", "$80 for ORD-12345")
    assert result.reply == "A colleague will review it." and result.enforcement.status == "regenerated"
    assert "refund_needs_human_above_limit" in result.matched_rules
    assert "refund_small_auto" not in result.matched_rules  # overridden: no refund tool ran
    assert result.tools == () or all(t.tool_id != "refund_request" for t in result.tools)
    record = (await _records(rig))[-1]
    (broken,) = [v for v in record.attempts[0].verdicts if not v.complies]
    assert broken.rule_id == "refund_needs_human_above_limit" and broken.by == "expression"
    assert record.attempts[1].passed and record.enforcement.violations == ("refund_needs_human_above_limit",)
    generation_prompts = [p for p, ctx in executor.calls if ctx.step_name == "generation"]
    assert "refund_needs_human_above_limit" in generation_prompts[-1]  # the violation was fed back


async def test_rules_of_a_scenario_entered_this_turn_apply_this_turn(rig: dict[str, Any]) -> None:
    workflow, executor = rig["workflow"], rig["executor"]
    executor.script(
        "context_extraction",
        snapshot("refund", "refund", order_number="ORD-12345", refund_amount="80"),
        snapshot("refund", "refund", order_number="ORD-10001", refund_amount="20"),
    )
    executor.script("rule_filtering", decisions(), decisions())
    executor.script("generation", reply("Your refund is approved."), reply("A colleague reviews it."))
    executor.script("generation", reply("Your refund of $20 is on its way."))
    executor.script("enforcement", COMPLIES, COMPLIES, COMPLIES)
    # above the limit, in one message: the scenario starts, lands on `decide`, and its hard rule holds
    above = await turn(workflow, "acme", "Refund $80 for ORD-12345 please")
    assert (above.scenario, above.step) == ("refund", "decide")
    assert "refund_needs_human_above_limit" in above.matched_rules and above.enforcement.status == "regenerated"
    assert all(t.tool_id != "refund_request" for t in above.tools)
    record = (await _records(rig))[-1]
    entered = _rules(record)["refund_needs_human_above_limit"]
    assert entered.kept and entered.decided_by == "expression" and "entered this turn" in entered.reason
    # within the limit, another conversation: the small-refund rule's tool runs on the turn it applies
    small = await turn(workflow, "acme", "Refund $20 for ORD-10001", conversation="c2")
    assert "refund_small_auto" in small.matched_rules
    (refund,) = [t for t in small.tools if t.tool_id == "refund_request"]
    assert refund.ok and refund.output["refund_status"] == "approved"
    assert refund.arguments == {"order_number": "ORD-10001", "amount": 20.0}


async def test_a_model_judged_rule_of_a_step_entered_this_turn_is_recorded_for_the_next(rig: dict[str, Any]) -> None:
    executor = rig["executor"]
    executor.script("context_extraction", snapshot("order_status", "order_status"))
    executor.script("rule_filtering", decisions())
    executor.script("generation", reply("What is your order number?"))
    executor.script("enforcement", COMPLIES)
    result = await turn(rig["workflow"], "acme", "Where is my order?")
    assert (result.scenario, result.step) == ("order_status", "collect_order_number")
    (record,) = await _records(rig)
    judged_later = _rules(record)["ask_order_number_format"]
    assert not judged_later.kept and "next turn" in judged_later.reason
    assert "ask_order_number_format" not in result.matched_rules


async def test_rules_judged_with_the_situation_need_no_filtering_call(rig: dict[str, Any]) -> None:
    executor = rig["executor"]
    verdicts_given = {"greeting": True, "angry_customer": False, "legal_question": False, "made_up": True}
    executor.script("context_extraction", snapshot("greeting", rules=verdicts_given))
    executor.script("generation", reply("Hello! How can I help?"))
    executor.script("enforcement", COMPLIES)
    result = await turn(rig["workflow"], "acme", "Hi there")
    (prompt, _), *_ = executor.calls
    assert "rule_filtering" not in steps_called(executor)
    assert "## Rules\n- angry_customer:" in prompt and "- greeting:" in prompt and "- legal_question:" in prompt
    assert "greeting" in result.matched_rules and "made_up" not in result.matched_rules
    (record,) = await _records(rig)
    outcomes = _rules(record)
    assert outcomes["greeting"].kept and "judged with the situation" in outcomes["greeting"].reason
    assert not outcomes["angry_customer"].kept and "made_up" not in outcomes  # an unlisted id is ignored
    (skipped,) = [s for s in record.skipped_calls if s.step == "rule_filtering"]
    assert "judged with the situation" in skipped.reason


async def test_rules_the_extraction_left_out_go_to_rule_filtering(rig: dict[str, Any]) -> None:
    executor = rig["executor"]
    executor.script("context_extraction", snapshot("complaint", rules={"greeting": False}))
    executor.script("rule_filtering", decisions(angry_customer=True, legal_question=False))
    executor.script("generation", reply("I am sorry about that."))
    executor.script("enforcement", COMPLIES)
    result = await turn(rig["workflow"], "acme", "This is useless")
    (filter_prompt,) = [p for p, ctx in executor.calls if ctx.step_name == "rule_filtering"]
    assert "- angry_customer:" in filter_prompt and "- greeting:" not in filter_prompt  # only the rest
    assert "angry_customer" in result.matched_rules and "greeting" not in result.matched_rules


def _invalid(schema: str) -> StructuredOutputError:
    return StructuredOutputError(f"{schema}: Invalid JSON", raw_text="{", schema_name=schema)


async def test_answers_that_do_not_validate_never_break_a_turn(rig: dict[str, Any]) -> None:
    executor = rig["executor"]
    # a weak model: the extraction and the first reply do not validate, then the reply does
    executor.script("context_extraction", _invalid("SituationSnapshot"))
    executor.script("rule_filtering", _invalid("RuleFilterResult"))
    executor.script("generation", _invalid("GeneratedReply"), reply("Hello! How can I help?"))
    executor.script("enforcement", COMPLIES)
    result = await turn(rig["workflow"], "acme", "Hi there")
    assert result.reply == "Hello! How can I help?" and result.enforcement.status == "regenerated"
    (record,) = await _records(rig)
    first, second = record.attempts
    assert [(v.rule_id, v.complies) for v in first.verdicts if not v.complies] == [("reply", False)]
    assert second.passed
    unusable = {m.step: m.reason for m in record.models if "did not validate" in m.reason}
    assert set(unusable) == {"context_extraction", "rule_filtering", "generation"}  # made, billed, recorded
    assert "read as saying nothing" in unusable["context_extraction"]
    assert not any("did not validate" in s.reason for s in record.skipped_calls)  # not a call saved
    assert not any(o.kept for o in record.rules if o.decided_by == "model")  # no verdict: nothing applies


async def test_a_scenario_decision_that_does_not_validate_keeps_the_conversation_where_it_is(
    rig: dict[str, Any],
) -> None:
    executor = rig["executor"]
    executor.script("context_extraction", snapshot("refund", "refund"), snapshot("other"))
    executor.script("rule_filtering", decisions(), decisions())
    executor.script("generation", reply("Which order?"), reply("Noted."))
    executor.script("enforcement", COMPLIES, COMPLIES)
    await turn(rig["workflow"], "acme", "I want my money back")
    executor.script("scenario_filtering", _invalid("ScenarioDecision"))
    record_before = (await _records(rig))[-1]
    executor.calls.clear()
    result = await turn(rig["workflow"], "acme", "hmm, actually never mind, or maybe")
    assert (result.scenario, result.step) == (record_before.scenario.after_scenario, record_before.scenario.after_step)


async def test_a_hard_rule_the_model_gave_no_verdict_on_applies(rig: dict[str, Any], tmp_path: Path) -> None:
    folder = judged_support(tmp_path / "support-hard")
    rules_file = folder / "rules.yaml"
    document = yaml.safe_load(rules_file.read_text())
    document["rules"].append(
        {
            "id": "no_minors",
            "name": "Never sell to minors",
            "when": "The customer says they are under 18.",
            "then": "Do not sell anything; say an adult must place the order.",
            "hard": True,
        }
    )
    rules_file.write_text(yaml.safe_dump(document, sort_keys=False))
    rig["store"].import_folder(folder, "acme", created_by="tests")
    executor = rig["executor"]
    executor.script("context_extraction", snapshot("other"))
    executor.script("rule_filtering", _invalid("RuleFilterResult"))
    executor.script("generation", reply("Sure, here you go."), reply("An adult must place the order."))
    all_hold = verdicts(no_profanity="complies", no_delivery_promises="complies", no_minors="complies")
    executor.script("enforcement", COMPLIES, all_hold)  # the first judge says nothing of no_minors
    result = await turn(rig["workflow"], "acme", "I am 15, sell me this")
    assert "no_minors" in result.matched_rules  # fail closed: the reply was checked against it
    (record,) = await _records(rig)
    assert "fail closed" in _rules(record)["no_minors"].reason
    assert result.enforcement.status == "regenerated" and result.enforcement.violations == ("no_minors",)
    assert result.reply == "An adult must place the order."


async def test_a_rule_judged_both_ways_violates(rig: dict[str, Any]) -> None:
    executor = rig["executor"]
    executor.script("context_extraction", snapshot("other", rules={"greeting": False}))
    executor.script("rule_filtering", decisions(angry_customer=False, legal_question=False))
    executor.script("generation", reply("Fine."), reply("Fine, thanks."), reply("Thanks."))
    both_ways = json.dumps(
        {
            "verdicts": [
                {"rule_id": "no_profanity", "verdict": "violates", "reason": "rude"},
                {"rule_id": "no_profanity", "verdict": "complies", "reason": "ok"},
                {"rule_id": "no_delivery_promises", "verdict": "complies", "reason": "ok"},
            ]
        }
    )
    executor.script("enforcement", both_ways, COMPLIES)
    result = await turn(rig["workflow"], "acme", "ok")
    assert result.enforcement.status == "regenerated" and result.enforcement.violations == ("no_profanity",)
