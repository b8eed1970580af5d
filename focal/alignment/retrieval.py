"""Retrieval: the rules and scenarios in play this turn, filtered and ranked, and what is decided without a model.

Pure and deterministic: the same configuration, state and situation give the same result.

- `retrieve`: the rules of the three scopes at the session's position (global, the active scenario's, the
  active step's) minus disabled, exhausted and cooling-down ones; `when_expression` rules decided
  (true: matched, false or unknown: not); the rest ranked against the message (score, then priority,
  then id) and capped, every rule left out recorded with its reason. Scenarios likewise.
- `apply_relationships`: `overrides` and `requires` over the rules that applied (after the model's filtering).
- `next_step`, `validate_variables`, `skippable_steps`: scenario moves decided without a model.

Ranking goes through `Ranker`, which indexes a configuration's texts once (`index_for` caches it per
tenant, agent, version and ranker) and scores each turn's query against that index. `BM25Ranker`
is lexical (rank_bm25); an embedding ranker can implement the same two methods.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NamedTuple, Protocol

from rank_bm25 import BM25Plus

from focal.alignment.cache import ConfigCache
from focal.alignment.config import AlignmentConfig
from focal.alignment.expressions import UNKNOWN, Expression, ExpressionError, Unknown, compile_expression
from focal.alignment.rules import Rule
from focal.alignment.scenarios import Scenario, ScenarioStep, StepTransition
from focal.alignment.session import AlignmentState, Situation, turn_variables
from focal.errors import NotFoundError

__all__ = [
    "BM25Ranker",
    "DroppedRule",
    "DroppedScenario",
    "RankIndex",
    "RankedRule",
    "RankedText",
    "Ranker",
    "RetrievalIndex",
    "RetrievalResult",
    "RuleDecision",
    "ScenarioCandidate",
    "SkipPath",
    "TransitionDecision",
    "apply_relationships",
    "index_for",
    "next_step",
    "retrieve",
    "skippable_steps",
    "tokenize",
    "validate_variables",
]

DEFAULT_MAX_RULES: Final = 20
DEFAULT_MAX_SCENARIOS: Final = 5

# ---------------------------------------------------------------------------------------------- ranking


@dataclass(frozen=True, slots=True, kw_only=True)
class RankedText:
    """One document to index: a rule's or a scenario's id and the text that describes it."""

    id: str
    text: str


class RankIndex(Protocol):
    """A configuration's documents, indexed once; scored against each turn's query."""

    def scores(self, query: str, ids: Sequence[str]) -> list[float]:
        """How well each of `ids` matches `query` (higher is better; 0 for nothing in common), in order."""
        ...


class Ranker(Protocol):
    """Builds a `RankIndex` over documents (once per configuration version, see `index_for`)."""

    @property
    def name(self) -> str:
        """The ranker and its settings: part of the index cache key."""
        ...

    def index(self, documents: Sequence[RankedText]) -> RankIndex: ...


_WORD = re.compile(r"[^\W_]+")
_STOPWORD_LIST = (
    "a an and are as at be but by can could do does for from had has have i if in into is it its me my no not of "
    "on or our so than that the their them then there these they this to was we were what when where which who "
    "will with would you your"
)
STOPWORDS: Final = frozenset(_STOPWORD_LIST.split())


def tokenize(text: str) -> list[str]:
    """Lowercase words (letters and digits; `_` splits), stopwords out, a plural `s` folded."""
    return [
        word[:-1] if len(word) > 3 and word[-1] == "s" and word[-2] != "s" else word
        for word in _WORD.findall(text.lower())
        if word not in STOPWORDS
    ]


@dataclass(frozen=True, slots=True, kw_only=True)
class BM25Ranker:
    """Lexical ranking with rank_bm25: Okapi BM25 term weighting (`k1`, `b`) with the always-positive idf
    `log((N + 1) / n)` of its `BM25Plus` (taken with `delta=0`). BM25Okapi's own idf is zero or negative
    for a term in half the documents or more, which inverts rankings over the few scenarios a config
    has (rank_bm25 issues #39, #43).

    The index keeps each term's weight per document, computed once from the library's statistics, so a
    query costs the postings of its terms rather than a pass over every document; the scores are
    `BM25Plus(corpus, k1=k1, b=b, delta=0).get_scores(tokenize(query))`.
    """

    k1: float = 1.5
    b: float = 0.75

    @property
    def name(self) -> str:
        return f"bm25(k1={self.k1},b={self.b})"

    def index(self, documents: Sequence[RankedText]) -> _BM25Index:
        corpus = [tokenize(d.text) for d in documents]
        postings: dict[str, dict[str, float]] = {}
        if any(corpus):
            bm25 = BM25Plus(corpus, k1=self.k1, b=self.b, delta=0)
            for document, frequencies, length in zip(documents, bm25.doc_freqs, bm25.doc_len, strict=True):
                norm = self.k1 * (1 - self.b + self.b * length / bm25.avgdl)
                for term, frequency in frequencies.items():
                    weight = bm25.idf[term] * frequency * (self.k1 + 1) / (norm + frequency)
                    postings.setdefault(term, {})[document.id] = weight
        return _BM25Index(postings)


class _BM25Index:
    __slots__ = ("_postings",)

    def __init__(self, postings: dict[str, dict[str, float]]) -> None:
        self._postings = postings

    def scores(self, query: str, ids: Sequence[str]) -> list[float]:
        totals: dict[str, float] = {}
        total = totals.get
        for term, count in Counter(tokenize(query)).items():  # a repeated term counts again, as in get_scores
            posting = self._postings.get(term)
            if posting:
                for doc_id, weight in posting.items():
                    totals[doc_id] = total(doc_id, 0.0) + weight * count
        return [total(i, 0.0) for i in ids]


DEFAULT_RANKER: Final = BM25Ranker()


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrievalIndex:
    """One configuration version's rules (name, when, then) and scenarios (name, description, entry_when),
    indexed by one ranker."""

    rules: RankIndex
    scenarios: RankIndex


class _Prepared:
    """What retrieval derives once per configuration version and ranker: the index, the scenarios by id
    (with and without `entry_expression`), and the rules in play at each position by priority (highest
    first) then id (filled as positions are used)."""

    __slots__ = ("config", "gated_scenarios", "index", "positions", "text_scenarios")

    def __init__(self, config: AlignmentConfig, index: RetrievalIndex) -> None:
        self.config = config
        self.index = index
        by_id = sorted(config.scenarios.values(), key=lambda s: s.id)
        self.text_scenarios = tuple(s.id for s in by_id if s.entry_expression is None)
        self.gated_scenarios: tuple[Scenario, ...] = tuple(s for s in by_id if s.entry_expression is not None)
        self.positions: dict[tuple[str | None, str | None], tuple[Rule, ...]] = {}

    def rules_at(self, scenario_id: str | None, step_id: str | None) -> tuple[Rule, ...]:
        rules = self.positions.get((scenario_id, step_id))
        if rules is None:
            config = self.config
            rules = tuple(sorted(config.rules_for(scenario_id, step_id), key=lambda r: (-r.priority, r.id)))
            known = scenario_id is None or (
                scenario_id in config.scenarios and (step_id is None or (scenario_id, step_id) in config.steps)
            )
            if known:  # a stale position (from another version) is not kept
                self.positions[(scenario_id, step_id)] = rules
        return rules


_PREPARED: ConfigCache[_Prepared] = ConfigCache(max_entries=256)
"""Derived from content-addressed versions only: an entry cannot go stale or leak across tenants."""


def _prepared(config: AlignmentConfig, ranker: Ranker) -> _Prepared:
    version = f"{config.version}/{ranker.name}"
    prepared = _PREPARED.get(config.tenant_id, config.agent_id, version)
    if prepared is None:
        rules = [
            RankedText(id=r.id, text=" ".join(filter(None, (r.name, r.when, r.then)))) for r in config.document.rules
        ]
        scenarios = [
            RankedText(id=s.id, text=" ".join(filter(None, (s.name, s.description, s.entry_when))))
            for s in config.document.scenarios
        ]
        prepared = _Prepared(config, RetrievalIndex(rules=ranker.index(rules), scenarios=ranker.index(scenarios)))
        _PREPARED.put(config.tenant_id, config.agent_id, version, prepared)
    return prepared


def index_for(config: AlignmentConfig, ranker: Ranker = DEFAULT_RANKER) -> RetrievalIndex:
    """The ranker's index of `config`, built on first use and kept (bounded LRU) for later turns: call it
    when a version is loaded to keep the build off the first turn."""
    return _prepared(config, ranker).index


# -------------------------------------------------------------------------------------------- retrieval


# The records of a result are NamedTuples: immutable, and cheap to build (a turn builds hundreds).


class RankedRule(NamedTuple):
    rule: Rule
    score: float

    @property
    def rule_id(self) -> str:
        return self.rule.id


class RuleDecision(NamedTuple):
    """A rule decided without a model by its `when_expression`: matched or not, and why."""

    rule_id: str
    matched: bool
    reason: str


class DroppedRule(NamedTuple):
    rule_id: str
    reason: str


class ScenarioCandidate(NamedTuple):
    """`decided`: in without a model (the active scenario, or a true `entry_expression`); otherwise the
    model decides from `entry_when`."""

    scenario_id: str
    score: float
    decided: bool
    reason: str


class DroppedScenario(NamedTuple):
    scenario_id: str
    reason: str


@dataclass(frozen=True, slots=True, kw_only=True)
class RetrievalResult:
    """What retrieval found for one turn.

    - `candidates`: rules for the model to judge, best first (score, then priority, then id), capped.
    - `decided`: rules whose `when_expression` decided them (`matched` or not).
    - `filtered`: rules that cannot fire this turn (disabled, exhausted, cooling down).
    - `below_cap`: rules ranked below `max_rules`, best first.
    - `scenario_candidates`: the active scenario first, then those decided in, then ranked ones (capped).
    - `filtered_scenarios`: `entry_expression` false or unknown, or the active one gone from the version.
    - `scenarios_below_cap`: scenarios ranked below `max_scenarios`, best first.

    `dropped` and `dropped_scenarios` list every one left out with its reason (built when read).
    """

    candidates: tuple[RankedRule, ...]
    decided: tuple[RuleDecision, ...]
    filtered: tuple[DroppedRule, ...]
    below_cap: tuple[str, ...]
    max_rules: int | None
    scenario_candidates: tuple[ScenarioCandidate, ...]
    filtered_scenarios: tuple[DroppedScenario, ...]
    scenarios_below_cap: tuple[str, ...]
    max_scenarios: int | None

    @property
    def candidate_ids(self) -> tuple[str, ...]:
        return tuple(c.rule.id for c in self.candidates)

    @property
    def matched_ids(self) -> tuple[str, ...]:
        """Rules matched without a model."""
        return tuple(d.rule_id for d in self.decided if d.matched)

    @property
    def dropped(self) -> tuple[DroppedRule, ...]:
        """Rules left out, with the reason: filtered ones, then those below the cap."""
        reason = f"ranked below the cap of {self.max_rules}"
        return self.filtered + tuple(DroppedRule(rule_id=r, reason=reason) for r in self.below_cap)

    @property
    def dropped_scenarios(self) -> tuple[DroppedScenario, ...]:
        reason = f"ranked below the cap of {self.max_scenarios}"
        return self.filtered_scenarios + tuple(
            DroppedScenario(scenario_id=s, reason=reason) for s in self.scenarios_below_cap
        )


def retrieve(
    config: AlignmentConfig,
    state: AlignmentState,
    situation: Situation,
    *,
    ranker: Ranker = DEFAULT_RANKER,
    max_rules: int | None = DEFAULT_MAX_RULES,
    max_scenarios: int | None = DEFAULT_MAX_SCENARIOS,
) -> RetrievalResult:
    """The rules and scenarios in play this turn (see the module docstring).

    A rule with both `when_expression` and `when`: the expression must be true, then the model judges
    the text. An expression that cannot decide (`UNKNOWN`) never matches. Likewise for a scenario's
    `entry_expression` and `entry_when`.

    Args:
        config: the session's configuration version.
        state: the session's state (its turn, fires, position, known variables).
        situation: this turn's message, intent, language and variable values.
        ranker: ranks rules and scenarios against the message and intent; its index is cached per version.
        max_rules: how many rules at most go to the model (None: no cap).
        max_scenarios: how many scenarios at most go to the model besides the active and decided ones.

    Raises:
        ValueError: a negative cap.
    """
    if (max_rules is not None and max_rules < 0) or (max_scenarios is not None and max_scenarios < 0):
        raise ValueError("a cap is a number of candidates (0 or more) or None")
    prepared = _prepared(config, ranker)
    variables = turn_variables(state, situation)
    query = f"{situation.message} {situation.intent or ''}"
    verdicts = _Verdicts(config, variables)
    pending: list[Rule] = []
    decided: list[RuleDecision] = []
    filtered: list[DroppedRule] = []
    counts, last_fired = state.fire_counts, state.last_fired_turn
    for rule in prepared.rules_at(state.active_scenario, state.active_step):  # by priority, then id
        if rule.id in counts or rule.id in last_fired or not rule.enabled:
            unavailable = _unavailable(rule, state)
            if unavailable:
                filtered.append(DroppedRule(rule_id=rule.id, reason=unavailable))
                continue
        if rule.when_expression is not None:
            verdict, why = verdicts("when_expression", rule.when_expression)
            if verdict is not True or rule.when is None:
                decided.append(RuleDecision(rule.id, verdict is True, why))
                continue
        pending.append(rule)
    scores = prepared.index.rules.scores(query, [r.id for r in pending])
    order = _best_first(scores)
    cut = len(order) if max_rules is None else max_rules
    scenarios, filtered_scenarios, scenarios_below_cap = _scenarios(
        config, prepared, state, query, verdicts, max_scenarios
    )
    return RetrievalResult(
        candidates=tuple([RankedRule(pending[i], scores[i]) for i in order[:cut]]),
        decided=tuple(decided),
        filtered=tuple(filtered),
        below_cap=tuple([pending[i].id for i in order[cut:]]),
        max_rules=max_rules,
        scenario_candidates=scenarios,
        filtered_scenarios=filtered_scenarios,
        scenarios_below_cap=scenarios_below_cap,
        max_scenarios=max_scenarios,
    )


def _best_first(scores: list[float]) -> list[int]:
    """Positions by score, highest first; a stable sort, so ties keep their order (priority, then id)."""
    negated = [-x for x in scores]
    return sorted(range(len(scores)), key=negated.__getitem__)


def _unavailable(rule: Rule, state: AlignmentState) -> str | None:
    """Why `rule` cannot fire this turn whatever the message says, or None."""
    if not rule.enabled:
        return "disabled"
    fired = state.fire_counts.get(rule.id, 0)
    if rule.max_fires_per_session is not None and fired >= rule.max_fires_per_session:
        return f"exhausted: fired {fired} time(s), max_fires_per_session is {rule.max_fires_per_session}"
    last = state.last_fired_turn.get(rule.id)
    if last is not None and state.turn <= last + rule.cooldown_turns:
        return (
            f"cooling down: fired at turn {last}, cooldown_turns is {rule.cooldown_turns}, "
            f"can fire again at turn {last + rule.cooldown_turns + 1}"
        )
    return None


class _Verdicts:
    """A turn's expressions, each evaluated once, with the reason a decision gives, e.g.
    `when_expression is true: x > 1` or `cannot decide: unknown variable(s) x in when_expression 'x > 1'`."""

    __slots__ = ("config", "known", "memo", "variables")

    def __init__(self, config: AlignmentConfig, variables: Mapping[str, Any]) -> None:
        self.config = config
        self.variables = variables
        self.known = {name for name, value in variables.items() if value is not None}
        self.memo: dict[tuple[str, str], tuple[bool | Unknown, str]] = {}

    def __call__(self, label: str, source: str) -> tuple[bool | Unknown, str]:
        found = self.memo.get((label, source))
        if found is None:
            found = self.memo[(label, source)] = self._decide(label, source)
        return found

    def _decide(self, label: str, source: str) -> tuple[bool | Unknown, str]:
        expression: Expression | None = self.config.expressions.get(source)
        if expression is None:  # a configuration compiled without it (validated ones have them all)
            try:
                expression = compile_expression(source)
            except ExpressionError as exc:
                return UNKNOWN, f"cannot decide: {label} {source!r} is invalid ({exc})"
        if not expression.names <= self.known:  # what `evaluate` would say, without building an evaluator
            missing = ", ".join(sorted(expression.names - self.known))
            return UNKNOWN, f"cannot decide: unknown variable(s) {missing} in {label} {source!r}"
        verdict = expression.evaluate(self.variables)
        if verdict is UNKNOWN:
            return verdict, f"cannot decide: {label} {source!r} compares values that cannot be compared"
        return verdict, f"{label} is {'true' if verdict else 'false'}: {source}"


def _scenarios(
    config: AlignmentConfig,
    prepared: _Prepared,
    state: AlignmentState,
    query: str,
    verdicts: _Verdicts,
    cap: int | None,
) -> tuple[tuple[ScenarioCandidate, ...], tuple[DroppedScenario, ...], tuple[str, ...]]:
    active = state.active_scenario if state.active_scenario in config.scenarios else None
    filtered: list[DroppedScenario] = []
    if state.active_scenario is not None and active is None:
        reason = f"active scenario not in version {config.version}"
        filtered.append(DroppedScenario(scenario_id=state.active_scenario, reason=reason))
    decided_in: dict[str, str] = {}
    for_model = [s for s in prepared.text_scenarios if s != active]  # by id
    gated_in = False
    for scenario in prepared.gated_scenarios:  # by id
        if scenario.id == active:
            continue
        verdict, why = verdicts("entry_expression", scenario.entry_expression or "")
        if verdict is not True:
            filtered.append(DroppedScenario(scenario_id=scenario.id, reason=why))
        elif scenario.entry_when is None:
            decided_in[scenario.id] = why
        else:
            for_model.append(scenario.id)
            gated_in = True
    if gated_in:
        for_model.sort()
    ids = [*([active] if active else []), *decided_in, *for_model]
    scores = dict(zip(ids, prepared.index.scenarios.scores(query, ids), strict=True))
    ranked = [for_model[i] for i in _best_first([scores[s] for s in for_model])]
    cut = len(ranked) if cap is None else cap
    candidates: list[ScenarioCandidate] = []
    if active:
        candidates.append(
            ScenarioCandidate(scenario_id=active, score=scores[active], decided=True, reason="active scenario")
        )
    entered = list(decided_in)
    candidates.extend(
        ScenarioCandidate(scenario_id=s, score=scores[s], decided=True, reason=decided_in[s])
        for s in (entered[i] for i in _best_first([scores[s] for s in entered]))
    )
    candidates.extend(
        ScenarioCandidate(scenario_id=s, score=scores[s], decided=False, reason="entry_when left to the model")
        for s in ranked[:cut]
    )
    return tuple(candidates), tuple(filtered), tuple(ranked[cut:])


# ---------------------------------------------------------------------------------------- relationships


def apply_relationships(
    config: AlignmentConfig, matched_ids: Iterable[str]
) -> tuple[tuple[str, ...], tuple[DroppedRule, ...]]:
    """The rules that apply once `overrides` and `requires` are enforced, and the others with their reason.

    A rule applies when it matched, none of the rules overriding it applies ("overridden by X") and every
    rule it requires applies ("requires X, which did not apply"), chains included: decided rule by rule
    until nothing changes. A rule that both requires and overrides another (a refinement) wins over it.
    Rules are returned by priority (highest first), then id; unknown ids are dropped.
    """
    rules = config.rules_by_id
    dropped: dict[str, str] = {}
    matched: list[str] = []
    for rule_id in dict.fromkeys(matched_ids):
        if rule_id in rules:
            matched.append(rule_id)
        else:
            dropped[rule_id] = "not a rule of this configuration"
    matched.sort(key=lambda r: (-rules[r].priority, r))
    present = set(matched)
    overriders = {r: [o for o in matched if r in rules[o].overrides] for r in matched}
    applies: dict[str, bool] = {}
    pending = matched
    while pending:
        for rule_id in pending:
            verdict = _relationship_verdict(rules[rule_id], present, overriders[rule_id], applies)
            if verdict is not None:
                applies[rule_id], reason = verdict
                if reason:
                    dropped[rule_id] = reason
        still = [r for r in pending if r not in applies]
        if len(still) == len(pending):  # a cycle through requires and overrides: break it deterministically
            rule_id = next((r for r in still if all(applies.get(o) is False for o in overriders[r])), still[0])
            applies[rule_id] = True
            still.remove(rule_id)
        pending = still
    kept = tuple(r for r in matched if applies[r])
    return kept, tuple(DroppedRule(rule_id=r, reason=why) for r, why in dropped.items())


def _relationship_verdict(
    rule: Rule, present: set[str], overriders: list[str], applies: dict[str, bool]
) -> tuple[bool, str] | None:
    """(applies, reason when not) once it can be decided from the rules decided so far, else None."""
    for required in rule.requires:
        if required not in present or applies.get(required) is False:
            return False, f"requires {required}, which did not apply"
    winner = next((o for o in overriders if applies.get(o) is True), None)
    if winner is not None:
        return False, f"overridden by {winner}"
    if all(applies.get(r) is True for r in rule.requires) and all(applies.get(o) is False for o in overriders):
        return True, ""
    return None


# ----------------------------------------------------------------------------------- scenario decisions


@dataclass(frozen=True, slots=True, kw_only=True)
class TransitionDecision:
    """Where a step goes next, as far as it is decided without a model.

    - `to`: the step an expression transition decided (None: not decided).
    - `for_model`: text transitions the model decides first (those ranked above `to`, or all of them
      when nothing was decided); if it takes none, `to` stands.
    - `not_taken`: expression transitions that are false or cannot decide, as (to, reason).
    """

    to: str | None
    reason: str
    for_model: tuple[StepTransition, ...] = ()
    not_taken: tuple[tuple[str, str], ...] = ()


def _step(config: AlignmentConfig, scenario_id: str, step_id: str) -> ScenarioStep:
    step = config.steps.get((scenario_id, step_id))
    if step is None:
        raise NotFoundError(f"scenario {scenario_id!r} has no step {step_id!r} in version {config.version}")
    return step


def next_step(
    config: AlignmentConfig, scenario_id: str, step_id: str, variables: Mapping[str, Any]
) -> TransitionDecision:
    """Evaluate the step's transitions by priority (highest first, then as written): the first expression
    transition that is true is taken; an unknown one is not; text ones are left to the model.

    Raises:
        NotFoundError: the scenario has no such step in this version.
    """
    step = _step(config, scenario_id, step_id)
    if step.terminal or not step.transitions:
        return TransitionDecision(to=None, reason="terminal step" if step.terminal else "no transitions")
    verdicts = _Verdicts(config, variables)
    for_model: list[StepTransition] = []
    not_taken: list[tuple[str, str]] = []
    for transition in sorted(step.transitions, key=lambda t: -t.priority):
        if transition.when_expression is None:
            for_model.append(transition)
            continue
        verdict, why = verdicts("when_expression", transition.when_expression)
        if verdict is True and transition.when is None:
            return TransitionDecision(
                to=transition.to, reason=why, for_model=tuple(for_model), not_taken=tuple(not_taken)
            )
        if verdict is True:
            for_model.append(transition)  # the expression holds; its text is the model's to judge
        else:
            not_taken.append((transition.to, why))
    reason = "left to the model" if for_model else "no transition holds"
    return TransitionDecision(to=None, reason=reason, for_model=tuple(for_model), not_taken=tuple(not_taken))


def validate_variables(
    step: ScenarioStep, candidate_values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, str]]:
    """Split this turn's candidate values into those the step accepts (converted to their type) and
    those it rejects, with the reason. Absent (None) values are neither."""
    specs = {spec.name: spec for spec in step.collects}
    accepted: dict[str, Any] = {}
    rejected: dict[str, str] = {}
    for name, value in candidate_values.items():
        if value is None:
            continue
        spec = specs.get(name)
        if spec is None:
            rejected[name] = f"step {step.id!r} does not collect {name!r}"
            continue
        converted = spec.validate_value(value)
        if converted is not None:
            accepted[name] = converted
        elif spec.type == "string":
            rejected[name] = f"{value!r} does not match {spec.pattern}"
        else:
            rejected[name] = f"{value!r} is not a valid {spec.type}"
    return accepted, rejected


@dataclass(frozen=True, slots=True, kw_only=True)
class SkipPath:
    """`skipped`: the steps passed over, in order; `landing`: the step the conversation lands on."""

    skipped: tuple[str, ...]
    landing: str


def skippable_steps(config: AlignmentConfig, scenario_id: str, step_id: str, variables: Mapping[str, Any]) -> SkipPath:
    """From `step_id`, skip each step that is `skippable`, collects variables and already has valid
    values for all of them, while an expression transition decides where to go next.

    Raises:
        NotFoundError: the scenario has no such step in this version.
    """
    skipped: list[str] = []
    current = step_id
    while current not in skipped:
        step = _step(config, scenario_id, current)
        if not step.skippable or step.terminal or not step.collects:
            break
        if any(spec.validate_value(variables.get(spec.name)) is None for spec in step.collects):
            break
        decision = next_step(config, scenario_id, current, variables)
        if decision.to is None or decision.for_model:
            break
        skipped.append(current)
        current = decision.to
    return SkipPath(skipped=tuple(skipped), landing=current)
