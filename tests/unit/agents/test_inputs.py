"""Input builders: pure, deterministic (same objects, same text; order of what is given does not matter
where it should not) and naming every id the model must answer about."""

from __future__ import annotations

from focal.agents import (
    extraction_input,
    generation_input,
    judge_input,
    rule_filtering_input,
    scenario_filtering_input,
)

from focal.alignment import (
    AlignmentConfig,
    AlignmentState,
    ScenarioCandidate,
    Situation,
    ToolOutcome,
    Verdict,
    retrieve,
)

STATE = AlignmentState(turn=3, variables={"order_id": "ORD-12345"}).at("refund", "collect_reason")
SITUATION = Situation(message="I want a refund", intent="refund_request", variables={"order_id": "ORD-12345"})


def test_extraction_input(config: AlignmentConfig) -> None:
    history = [("user", "hi"), ("agent", "Hello! " * 200)] + [("user", f"m{i}") for i in range(10)]
    text = extraction_input("I want a refund", config, STATE, history=history)
    assert text == extraction_input("I want a refund", config, STATE, history=list(history))
    assert text.endswith("## Message\nI want a refund")
    assert "refund (Refund request), step collect_reason" in text
    assert "- reason (string): Why the customer wants a refund [asked now]" in text
    assert "- order_id (string, pattern ORD-\\d{5}): The order number [known: ORD-12345]" in text
    assert text.index("- address_change:") < text.index("- refund:"), "scenarios by id"
    assert "user: hi" not in text and "user: m9" in text, "the last messages only"
    outside = extraction_input("hello", config, AlignmentState())
    assert "## Active scenario\nnone" in outside and "[asked now]" not in outside
    assert "Conversation so far" not in outside


def test_rule_filtering_input_lists_every_candidate_by_id(config: AlignmentConfig) -> None:
    candidates = retrieve(config, STATE, SITUATION).candidates
    text = rule_filtering_input("I want a refund", SITUATION, candidates)
    ids = [c.rule_id for c in candidates]
    assert ids and all(f"- {rule_id}:" in text for rule_id in ids)
    assert text == rule_filtering_input("I want a refund", SITUATION, tuple(reversed(candidates)))
    assert text == rule_filtering_input("I want a refund", SITUATION, [c.rule for c in candidates])
    assert "intent: refund_request" in text and "order_id: ORD-12345" in text
    assert "## Context" not in rule_filtering_input("hi", None, candidates)


def test_scenario_filtering_input_lists_the_choices(config: AlignmentConfig) -> None:
    transitions = config.steps[("refund", "collect_reason")].transitions
    candidates = [ScenarioCandidate("address_change", 0.2, False, "entry_when left to the model")]
    text = scenario_filtering_input("I want a refund", SITUATION, config, STATE, candidates, transitions)
    assert text == scenario_filtering_input("I want a refund", SITUATION, config, STATE, candidates, transitions)
    assert "- address_change: Address change. When: The user wants to change an address" in text
    assert text.index("- to confirm.") < text.index("- to collect_order."), "transitions keep their priority order"
    assert "refund (Refund request), step collect_reason" in text
    unknown = [ScenarioCandidate("gone", 0.1, False, "")]
    fresh = scenario_filtering_input("refund", None, config, AlignmentState(), unknown, ())
    assert "gone" not in fresh and "## Active scenario\nnone" in fresh and "Transitions" not in fresh


def test_generation_input(config: AlignmentConfig) -> None:
    rules = [config.rules_by_id[r] for r in ("order_status", "no_profanity", "refund_limit", "greet")]
    tools = [
        ToolOutcome(tool_id="lookup_order", required=False, ok=True, output={"status": "shipped", "eta": "Mon"}),
        ToolOutcome(tool_id="crm", required=False, ok=False, error="timed out"),
    ]
    kwargs = dict(
        profile=config.profile,
        message="Where is my order?",
        rules=rules,
        step=config.steps[("refund", "collect_order")],
        tool_results=tools,
        templates={"ask_order": "Could you give me your order number?"},
        violations=[Verdict(rule_id="refund_limit", complies=False, by="judge", reason="promised 80 USD")],
    )
    text = generation_input(**kwargs)  # type: ignore[arg-type]
    assert text == generation_input(**{**kwargs, "rules": list(reversed(rules)), "tool_results": tools[::-1]})  # type: ignore[arg-type]
    assert text.index("- refund_limit (HARD)") < text.index("- greet:") < text.index("- no_profanity (HARD)")
    assert '- lookup_order: {"eta": "Mon", "status": "shipped"}' in text and "- crm failed: timed out" in text
    assert "- ask_order: Could you give me your order number?" in text
    assert "- refund_limit: promised 80 USD" in text and "collects: order_id" in text
    assert "A friendly support agent of the Acme shop." in text and text.endswith("Where is my order?")
    first = generation_input(profile=config.profile, message="hi")
    assert "Feedback" not in first and "Step" not in first and "Rules" not in first


def test_judge_input_names_every_hard_rule_and_shows_the_reply_verbatim(config: AlignmentConfig) -> None:
    hard = [config.rules_by_id["refund_limit"], config.rules_by_id["no_profanity"]]
    reply = "We refund 80 USD.\n\nAnything else?"
    variables = {"message": "refund?", "turn": 3, "intent": None, "order": {"b": 1, "a": 2}, "reply": "old"}
    text = judge_input(reply, hard, variables)
    assert text == judge_input(reply, hard[::-1], dict(reversed(variables.items())))
    assert "- no_profanity: Never use profanity" in text and "- refund_limit: Never promise" in text
    assert text.endswith("## Reply\n" + reply)
    assert 'order: {"a": 2, "b": 1}' in text and "intent" not in text and "old" not in text
