"""Retrieval: scopes, filters, expression decisions, ranking, caps, relationships, scenario moves."""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import pytest
from focal.tools import shipped_catalog
from rank_bm25 import BM25Plus

from focal.alignment import (
    AgentProfile,
    AlignmentConfig,
    AlignmentDocument,
    AlignmentState,
    BM25Ranker,
    ConfigCache,
    DroppedRule,
    RankedText,
    RankIndex,
    RetrievalResult,
    Rule,
    Scenario,
    ScenarioStep,
    Situation,
    StepTransition,
    VariableSpec,
    apply_relationships,
    compile_config,
    index_for,
    load_folder,
    next_step,
    retrieve,
    skippable_steps,
    tokenize,
    turn_variables,
    validate_document,
    validate_variables,
)
from focal.errors import NotFoundError
from tests.unit.alignment.conftest import SUPPORT

SUPPORT_DOCUMENT, SUPPORT_EXPRESSIONS = load_folder(SUPPORT, shipped_catalog())
SUPPORT_CONFIG = compile_config(SUPPORT_DOCUMENT, "acme", SUPPORT_EXPRESSIONS)
VARIABLES = (
    VariableSpec(name="customer_tier"),
    VariableSpec(name="amount", type="number"),
    VariableSpec(name="flag", type="boolean"),
)


def rule(rule_id: str, **fields: Any) -> Rule:
    if "when_expression" not in fields:
        fields.setdefault("when", f"The customer talks about {rule_id.replace('_', ' ')}.")
    return Rule(
        id=rule_id, name=fields.pop("name", rule_id.replace("_", " ")), then=fields.pop("then", "Help."), **fields
    )


def scenario(scenario_id: str, steps: Sequence[ScenarioStep] = (), **fields: Any) -> Scenario:
    if "entry_expression" not in fields:
        fields.setdefault("entry_when", f"The customer asks about {scenario_id.replace('_', ' ')}.")
    steps = tuple(steps) or (ScenarioStep(id="only", instructions="Answer.", terminal=True),)
    return Scenario(id=scenario_id, name=scenario_id.replace("_", " "), entry_step=steps[0].id, steps=steps, **fields)


def config(rules: Sequence[Rule] = (), scenarios: Sequence[Scenario] = (), tenant: str = "t1") -> AlignmentConfig:
    profile = AgentProfile(
        agent_id="bot", name="Bot", persona="A helpful bot.", fallback_reply="Sorry.", variables=VARIABLES
    )
    return compile_config(AlignmentDocument(profile=profile, rules=tuple(rules), scenarios=tuple(scenarios)), tenant)


def everything(result: RetrievalResult) -> set[str]:
    """Every rule id the retrieval looked at, whatever became of it."""
    return {*result.candidate_ids, *(d.rule_id for d in result.decided), *(d.rule_id for d in result.dropped)}


def reason(result: RetrievalResult, rule_id: str) -> str:
    found = [d.reason for d in (*result.decided, *result.dropped) if d.rule_id == rule_id]
    assert len(found) == 1, (rule_id, found)
    return found[0]


HELLO = Situation(message="Hello there")

# ------------------------------------------------------------------------------------------------ scopes

GLOBAL_RULES = {
    "greeting",
    "loyal_customer_thanks",
    "angry_customer",
    "legal_question",
    "no_profanity",
    "no_delivery_promises",
}


@pytest.mark.parametrize(
    ("scenario_id", "step_id", "expected"),
    [
        (None, None, GLOBAL_RULES),
        ("refund", "collect_details", GLOBAL_RULES | {"refund_needs_human_above_limit", "refund_small_auto"}),
        ("order_status", "collect_order_number", GLOBAL_RULES | {"ask_order_number_format"}),
        ("order_status", "lookup", GLOBAL_RULES),
    ],
)
def test_rules_of_each_scope_appear_only_at_their_position(
    scenario_id: str | None, step_id: str | None, expected: set[str]
) -> None:
    state = AlignmentState(active_scenario=scenario_id, active_step=step_id)
    assert everything(retrieve(SUPPORT_CONFIG, state, HELLO)) == expected


def test_a_step_brings_the_rules_it_lists_by_id() -> None:
    steps = (
        ScenarioStep(
            id="ask", instructions="Ask.", rules=("elsewhere",), transitions=(StepTransition(to="end", when="Done."),)
        ),
        ScenarioStep(id="end", instructions="Bye.", terminal=True),
    )
    cfg = config(
        [rule("elsewhere", scope="scenario", scope_id="other"), rule("g")], [scenario("flow", steps), scenario("other")]
    )
    assert everything(retrieve(cfg, AlignmentState(active_scenario="flow", active_step="ask"), HELLO)) == {
        "g",
        "elsewhere",
    }
    assert everything(retrieve(cfg, AlignmentState(active_scenario="flow", active_step="end"), HELLO)) == {"g"}


# ----------------------------------------------------------------------------------------------- filters


@pytest.mark.parametrize(("turn", "available"), [(2, False), (3, False), (5, False), (6, True), (9, True)])
def test_cooldown_blocks_until_turn_after_fired_plus_cooldown(turn: int, available: bool) -> None:
    state = AlignmentState(turn=2).with_fired(["angry_customer"]).model_copy(update={"turn": turn})
    result = retrieve(SUPPORT_CONFIG, state, Situation(message="I am fed up and angry"))
    if available:
        assert result.candidate_ids[0] == "angry_customer"
    else:
        assert "angry_customer" not in result.candidate_ids
        assert reason(result, "angry_customer") == (
            "cooling down: fired at turn 2, cooldown_turns is 3, can fire again at turn 6"
        )


def test_without_cooldown_a_rule_is_back_the_next_turn_not_the_same_one() -> None:
    cfg = config([rule("refunds")])
    fired = AlignmentState(turn=4).with_fired(["refunds"])
    assert "cooling down" in reason(retrieve(cfg, fired, HELLO), "refunds")
    assert retrieve(cfg, fired.next_turn(), HELLO).candidate_ids == ("refunds",)


def test_a_rule_that_fired_its_maximum_is_exhausted() -> None:
    state = AlignmentState().with_fired(["greeting"])
    assert state.fire_counts == {"greeting": 1} and state.last_fired_turn == {"greeting": 1}
    result = retrieve(SUPPORT_CONFIG, state.next_turn().next_turn(), Situation(message="Hi again"))
    assert reason(result, "greeting") == "exhausted: fired 1 time(s), max_fires_per_session is 1"
    assert "greeting" not in result.candidate_ids
    assert "greeting" in retrieve(SUPPORT_CONFIG, AlignmentState(turn=3), HELLO).candidate_ids


def test_a_disabled_rule_is_dropped_before_anything_else() -> None:
    cfg = config([rule("off", enabled=False, when_expression="amount > 1"), rule("on")])
    result = retrieve(cfg, AlignmentState(), Situation(message="x", variables={"amount": 5}))
    assert result.dropped == (DroppedRule(rule_id="off", reason="disabled"),)
    assert result.candidate_ids == ("on",) and result.decided == ()


# ----------------------------------------------------------------------------------- expression decisions


def test_when_expressions_are_decided_without_the_model() -> None:
    gold = Situation(message="hello", variables={"customer_tier": "gold"})
    result = retrieve(SUPPORT_CONFIG, AlignmentState(), gold)
    assert {"loyal_customer_thanks", "no_profanity", "no_delivery_promises"} == set(result.matched_ids)
    assert reason(result, "loyal_customer_thanks") == 'when_expression is true: customer_tier == "gold"'
    assert not {"loyal_customer_thanks", "no_profanity"} & set(result.candidate_ids)

    silver = retrieve(
        SUPPORT_CONFIG, AlignmentState(), Situation(message="hello", variables={"customer_tier": "silver"})
    )
    assert "loyal_customer_thanks" not in silver.matched_ids
    assert reason(silver, "loyal_customer_thanks") == 'when_expression is false: customer_tier == "gold"'


def test_an_expression_that_cannot_decide_never_matches() -> None:
    result = retrieve(SUPPORT_CONFIG, AlignmentState(), HELLO)
    decision = next(d for d in result.decided if d.rule_id == "loyal_customer_thanks")
    assert not decision.matched
    assert (
        decision.reason
        == "cannot decide: unknown variable(s) customer_tier in when_expression 'customer_tier == \"gold\"'"
    )
    assert "loyal_customer_thanks" not in result.candidate_ids


def test_the_session_variables_count_and_this_turns_values_win() -> None:
    state = AlignmentState(variables={"customer_tier": "gold"})
    assert "loyal_customer_thanks" in retrieve(SUPPORT_CONFIG, state, HELLO).matched_ids
    now_silver = Situation(message="x", variables={"customer_tier": "silver", "turn": 99})
    assert "loyal_customer_thanks" not in retrieve(SUPPORT_CONFIG, state, now_silver).matched_ids
    assert turn_variables(state, now_silver)["turn"] == 1  # built-ins are not replaced by extracted values


def test_text_and_expression_together_the_expression_gates_and_the_model_judges() -> None:
    cfg = config([rule("big_refund", when="The customer insists on a refund.", when_expression="amount > 50")])
    big = retrieve(cfg, AlignmentState(), Situation(message="refund", variables={"amount": 80}))
    assert big.candidate_ids == ("big_refund",) and big.decided == ()
    small = retrieve(cfg, AlignmentState(), Situation(message="refund", variables={"amount": 8}))
    assert small.candidate_ids == () and not small.decided[0].matched


# ------------------------------------------------------------------------------------- ranking and caps

RANKED = [
    rule("shipping_delays", when="The customer asks why the delivery of a parcel is late.", priority=50),
    rule("refund_policy", when="The customer asks for a refund or wants their money back.", then="Explain refunds."),
    rule("password_reset", when="The customer cannot log in or forgot the password.", priority=90),
    rule("opening_hours", when="The customer asks when the shop is open.", priority=5),
    rule("store_locations", when="The customer asks where the shops are.", priority=5),
]


def test_a_message_about_refunds_ranks_the_refund_rule_first() -> None:
    result = retrieve(config(RANKED), AlignmentState(), Situation(message="Can I get a refund for my broken kettle?"))
    first, *rest = result.candidates
    assert first.rule_id == "refund_policy" and first.score > 0
    assert all(c.score < first.score for c in rest)


def test_support_config_ranks_legal_and_angry_messages() -> None:
    legal = retrieve(SUPPORT_CONFIG, AlignmentState(), Situation(message="Is this GDPR compliant? I'll sue you."))
    assert legal.candidate_ids[0] == "legal_question"
    angry = retrieve(SUPPORT_CONFIG, AlignmentState(), Situation(message="I'm fed up, this is insulting"))
    assert angry.candidate_ids[0] == "angry_customer"


def test_ties_are_broken_by_priority_then_id() -> None:
    result = retrieve(config(RANKED), AlignmentState(), Situation(message="nothing in common"))
    assert all(c.score == 0 for c in result.candidates)
    assert result.candidate_ids == (
        "password_reset",
        "shipping_delays",
        "opening_hours",
        "store_locations",
        "refund_policy",
    )


def test_the_cap_keeps_the_best_and_records_the_others() -> None:
    rules = [rule(f"rule_{i:02d}", priority=i) for i in range(30)]
    result = retrieve(config(rules), AlignmentState(), HELLO, max_rules=5)
    assert result.candidate_ids == ("rule_29", "rule_28", "rule_27", "rule_26", "rule_25")
    assert [d.rule_id for d in result.dropped] == [f"rule_{i:02d}" for i in range(24, -1, -1)]
    assert {d.reason for d in result.dropped} == {"ranked below the cap of 5"}
    assert len(retrieve(config(rules), AlignmentState(), HELLO, max_rules=None).candidates) == 30


def test_a_cap_of_zero_sends_nothing_and_a_negative_one_is_refused() -> None:
    result = retrieve(config(RANKED), AlignmentState(), HELLO, max_rules=0)
    assert result.candidates == () and len(result.below_cap) == len(RANKED)
    with pytest.raises(ValueError):
        retrieve(config(RANKED), AlignmentState(), HELLO, max_rules=-1)


def test_bm25_scores_are_rank_bm25s() -> None:
    documents = [RankedText(id=r.id, text=f"{r.name} {r.when} {r.then}") for r in RANKED]
    index: RankIndex = BM25Ranker().index(documents)
    query = "Where is my parcel? The delivery is late, late, late: I want my money back"
    expected = BM25Plus([tokenize(d.text) for d in documents], k1=1.5, b=0.75, delta=0).get_scores(tokenize(query))
    assert index.scores(query, [d.id for d in documents]) == pytest.approx(list(expected))
    assert index.scores(query, ["refund_policy", "unknown"])[1] == 0.0


def test_tokens_are_lowercase_words_without_stopwords() -> None:
    assert tokenize("Where are my ORDERS? refund_request, café") == ["order", "refund", "request", "café"]


# -------------------------------------------------------------------------------------------- scenarios


def test_the_active_scenario_comes_first_even_below_the_cap() -> None:
    scenarios = [scenario(f"topic_{i}", description=f"About kettles number {i}.") for i in range(8)]
    cfg = config([rule("g")], scenarios)
    state = AlignmentState(active_scenario="topic_7", active_step="only")
    result = retrieve(cfg, state, Situation(message="my kettle"), max_scenarios=3)
    first, *others = result.scenario_candidates
    assert (first.scenario_id, first.decided, first.reason) == ("topic_7", True, "active scenario")
    assert [s.scenario_id for s in others] == ["topic_0", "topic_1", "topic_2"]
    assert [(d.scenario_id, d.reason) for d in result.dropped_scenarios] == [
        (f"topic_{i}", "ranked below the cap of 3") for i in (3, 4, 5, 6)
    ]


def test_entry_expressions_decide_scenarios_in_and_out() -> None:
    cfg = config(
        scenarios=[
            scenario("vip", entry_expression='customer_tier == "gold"'),
            scenario("big", entry_expression="amount > 100"),
            scenario("flagged", entry_expression="flag"),
            scenario("chat"),
        ]
    )
    result = retrieve(cfg, AlignmentState(), Situation(message="hi", variables={"customer_tier": "gold", "amount": 5}))
    assert [(s.scenario_id, s.decided) for s in result.scenario_candidates] == [("vip", True), ("chat", False)]
    assert {d.scenario_id: d.reason for d in result.dropped_scenarios} == {
        "big": "entry_expression is false: amount > 100",
        "flagged": "cannot decide: unknown variable(s) flag in entry_expression 'flag'",
    }


def test_support_scenarios_are_ranked_by_the_message() -> None:
    result = retrieve(SUPPORT_CONFIG, AlignmentState(), Situation(message="I want a refund, give me my money back"))
    assert [s.scenario_id for s in result.scenario_candidates] == ["refund", "order_status"]
    result = retrieve(SUPPORT_CONFIG, AlignmentState(), Situation(message="Where is my order? What is its status?"))
    assert [s.scenario_id for s in result.scenario_candidates] == ["order_status", "refund"]


def test_an_active_scenario_gone_from_the_version_is_reported() -> None:
    result = retrieve(SUPPORT_CONFIG, AlignmentState(active_scenario="gone", active_step="x"), HELLO)
    assert result.dropped_scenarios[0].scenario_id == "gone"
    assert everything(result) == GLOBAL_RULES


# ---------------------------------------------------------------------------------------- relationships


def test_support_overrides_and_requires() -> None:
    assert apply_relationships(SUPPORT_CONFIG, ["greeting", "loyal_customer_thanks"]) == (
        ("greeting", "loyal_customer_thanks"),
        (),
    )
    kept, dropped = apply_relationships(SUPPORT_CONFIG, ["loyal_customer_thanks", "legal_question", "greeting"])
    assert kept == ("legal_question",)
    assert dropped == (
        DroppedRule(rule_id="greeting", reason="overridden by legal_question"),
        DroppedRule(rule_id="loyal_customer_thanks", reason="requires greeting, which did not apply"),
    )
    assert apply_relationships(SUPPORT_CONFIG, ["loyal_customer_thanks"]) == (
        (),
        (DroppedRule(rule_id="loyal_customer_thanks", reason="requires greeting, which did not apply"),),
    )


CHAINS = config(
    [
        rule("a", requires=("b",)),
        rule("b", requires=("c",)),
        rule("c"),
        rule("top", overrides=("middle",), priority=3),
        rule("middle", overrides=("bottom",), priority=2),
        rule("bottom", priority=1),
        rule("refined", requires=("basic",), overrides=("basic",)),
        rule("basic"),
    ]
)


def test_requires_chains() -> None:
    assert apply_relationships(CHAINS, ["a", "b", "c"]) == (("a", "b", "c"), ())
    kept, dropped = apply_relationships(CHAINS, ["a", "b"])
    assert kept == ()
    assert {d.rule_id: d.reason for d in dropped} == {
        "a": "requires b, which did not apply",
        "b": "requires c, which did not apply",
    }


def test_overrides_chains_an_overridden_rule_overrides_nothing() -> None:
    kept, dropped = apply_relationships(CHAINS, ["bottom", "middle", "top"])
    assert kept == ("top", "bottom")
    assert dropped == (DroppedRule(rule_id="middle", reason="overridden by top"),)
    assert apply_relationships(CHAINS, ["bottom", "middle"]) == (
        ("middle",),
        (DroppedRule(rule_id="bottom", reason="overridden by middle"),),
    )


def test_a_refinement_requires_and_overrides_its_basic_rule() -> None:
    assert apply_relationships(CHAINS, ["basic", "refined"]) == (
        ("refined",),
        (DroppedRule(rule_id="basic", reason="overridden by refined"),),
    )
    assert apply_relationships(CHAINS, ["refined"])[0] == ()


def test_relationships_do_not_depend_on_input_order_and_unknown_ids_are_dropped() -> None:
    ids = ["a", "b", "c", "top", "middle", "bottom", "basic", "refined"]
    orders = list(itertools.permutations(ids))[::97]
    results = {apply_relationships(CHAINS, order) for order in orders}
    assert len(orders) > 400 and len(results) == 1
    (kept, _), *_ = results
    assert kept == ("top", "bottom", "a", "b", "c", "refined")
    assert apply_relationships(CHAINS, ["c", "made_up"])[1] == (
        DroppedRule(rule_id="made_up", reason="not a rule of this configuration"),
    )


# ------------------------------------------------------------------------------------------ transitions


def test_an_expression_transition_that_holds_is_taken() -> None:
    decision = next_step(SUPPORT_CONFIG, "order_status", "lookup", {"order_status": "shipped"})
    assert decision.to == "report" and decision.for_model == ()
    assert decision.reason == 'when_expression is true: order_status != "not_found"'


def test_an_unknown_transition_is_not_taken_and_text_ones_go_to_the_model() -> None:
    decision = next_step(SUPPORT_CONFIG, "order_status", "lookup", {})
    assert decision.to is None
    assert [t.to for t in decision.for_model] == ["collect_order_number"]
    assert decision.not_taken == (
        (
            "report",
            "cannot decide: unknown variable(s) order_status in when_expression 'order_status != \"not_found\"'",
        ),
    )


PRIORITY_FLOW = scenario(
    "flow",
    [
        ScenarioStep(
            id="start",
            instructions="Go.",
            transitions=(
                StepTransition(to="low", when_expression="amount > 0", priority=1),
                StepTransition(to="high", when_expression="amount > 10", priority=5),
                StepTransition(to="talk", when="The customer wants to talk.", priority=3),
            ),
        ),
        *(ScenarioStep(id=s, instructions="Done.", terminal=True) for s in ("low", "high", "talk")),
    ],
)


@pytest.mark.parametrize(
    ("amount", "to", "for_model"),
    [(50, "high", ()), (5, "low", ("talk",)), (-1, None, ("talk",)), (None, None, ("talk",))],
)
def test_transitions_are_evaluated_by_priority(amount: float | None, to: str | None, for_model: tuple[str]) -> None:
    decision = next_step(config(scenarios=[PRIORITY_FLOW]), "flow", "start", {"amount": amount})
    assert decision.to == to
    assert tuple(t.to for t in decision.for_model) == for_model


def test_terminal_and_unknown_steps() -> None:
    assert next_step(SUPPORT_CONFIG, "order_status", "report", {}).reason == "terminal step"
    with pytest.raises(NotFoundError):
        next_step(SUPPORT_CONFIG, "order_status", "nowhere", {})


# --------------------------------------------------------------------------------- variables and skipping


def test_variables_are_validated_by_the_steps_specs() -> None:
    step = SUPPORT_CONFIG.steps[("refund", "collect_details")]
    accepted, rejected = validate_variables(step, {"order_number": " ORD-12345 ", "refund_amount": "12.5"})
    assert accepted == {"order_number": "ORD-12345", "refund_amount": 12.5} and rejected == {}
    accepted, rejected = validate_variables(
        step, {"order_number": "ORD-123", "refund_amount": "ten", "customer_tier": "gold", "language": None}
    )
    assert accepted == {}
    assert rejected == {
        "order_number": "'ORD-123' does not match ^ORD-\\d{5}$",
        "refund_amount": "'ten' is not a valid number",
        "customer_tier": "step 'collect_details' does not collect 'customer_tier'",
    }


@pytest.mark.parametrize(
    ("variables", "skipped", "landing"),
    [
        ({"order_number": "ORD-12345", "refund_amount": 20}, ("collect_details",), "decide"),
        ({"order_number": "ORD-12345"}, (), "collect_details"),
        ({"order_number": "ORD-1", "refund_amount": 20}, (), "collect_details"),
    ],
)
def test_a_step_whose_variables_are_known_is_skipped(
    variables: dict[str, Any], skipped: tuple[str, ...], landing: str
) -> None:
    path = skippable_steps(SUPPORT_CONFIG, "refund", "collect_details", variables)
    assert (path.skipped, path.landing) == (skipped, landing)


def test_skipping_follows_expression_transitions_and_stops_at_a_step_without_collections() -> None:
    path = skippable_steps(SUPPORT_CONFIG, "order_status", "collect_order_number", {"order_number": "ORD-12345"})
    assert (path.skipped, path.landing) == (("collect_order_number",), "lookup")  # lookup runs a tool

    def collecting(step_id: str, variable: str, to: str, skippable: bool = True) -> ScenarioStep:
        return ScenarioStep(
            id=step_id,
            instructions="Ask.",
            collects=(VariableSpec(name=variable),),
            skippable=skippable,
            transitions=(StepTransition(to=to, when_expression=f"{variable} != ''"),),
        )

    steps = [
        collecting("one", "customer_tier", "two"),
        collecting("two", "customer_tier", "three"),
        collecting("three", "customer_tier", "end", skippable=False),
        ScenarioStep(id="end", instructions="Bye.", terminal=True),
    ]
    cfg = config(scenarios=[scenario("chain", steps)])
    path = skippable_steps(cfg, "chain", "one", {"customer_tier": "gold"})
    assert (path.skipped, path.landing) == (("one", "two"), "three")


# ------------------------------------------------------------------------------- determinism and caching


def test_same_input_same_output() -> None:
    state = AlignmentState(turn=3, active_scenario="refund", active_step="decide", variables={"refund_amount": 80})
    situation = Situation(message="Hello, I want my refund now, I'm fed up", intent="refund_request")
    again = compile_config(SUPPORT_DOCUMENT, "acme", SUPPORT_EXPRESSIONS)
    assert retrieve(SUPPORT_CONFIG, state, situation) == retrieve(again, state, situation)


class CountingRanker:
    """BM25, counting how many indexes it builds."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.built = 0

    def index(self, documents: Sequence[RankedText]) -> RankIndex:
        self.built += 1
        return BM25Ranker().index(documents)


def test_the_index_is_built_once_per_config_version(request: pytest.FixtureRequest) -> None:
    ranker = CountingRanker(request.node.nodeid)
    state = AlignmentState()
    for turn in range(1, 4):
        retrieve(SUPPORT_CONFIG, state.model_copy(update={"turn": turn}), HELLO, ranker=ranker)
    assert ranker.built == 2  # one index of rules, one of scenarios
    retrieve(compile_config(SUPPORT_DOCUMENT, "acme", SUPPORT_EXPRESSIONS), state, HELLO, ranker=ranker)
    assert ranker.built == 2  # same content, same version
    changed = SUPPORT_DOCUMENT.model_copy(update={"rules": SUPPORT_DOCUMENT.rules[:-1]})
    retrieve(
        compile_config(changed, "acme", validate_document(changed, shipped_catalog())), state, HELLO, ranker=ranker
    )
    assert ranker.built == 4
    assert index_for(SUPPORT_CONFIG, ranker) is index_for(SUPPORT_CONFIG, ranker) and ranker.built == 4


def test_state_changes_return_new_states_and_round_trip() -> None:
    state = AlignmentState(turn=2)
    fired = state.with_fired(["a", "b", "a"]).with_fired(["a"], turn=5)
    assert state.fire_counts == {} and fired.fire_counts == {"a": 2, "b": 1}
    assert fired.last_fired_turn == {"a": 5, "b": 2}
    moved = fired.at("refund", "decide").with_variables({"refund_amount": 20})
    assert (moved.active_scenario, moved.active_step, moved.variables) == ("refund", "decide", {"refund_amount": 20})
    assert moved.at(None, "decide").active_step is None
    assert AlignmentState.model_validate(moved.model_dump(mode="json")) == moved
    with pytest.raises(ValueError):
        AlignmentState(turn=0)


def test_config_cache_is_a_bounded_lru() -> None:
    cache: ConfigCache[str] = ConfigCache(max_entries=2)
    cache.put("t1", "a", "v1", "one")
    cache.put("t1", "a", "v2", "two")
    assert cache.get("t1", "a", "v1") == "one"  # now the most recently used
    cache.put("t2", "a", "v1", "three")
    assert cache.get("t1", "a", "v2") is None and cache.get("t1", "a", "v1") == "one" and len(cache) == 2
    cache.discard("t1")
    assert ("t2", "a", "v1") in cache and len(cache) == 1
    with pytest.raises(ValueError):
        ConfigCache(max_entries=0)
