"""Retrieval: the rules and scenarios in play this turn, filtered and ranked, and what is decided without a model.

Pure and deterministic: the same configuration, state and situation give the same result.

- `retrieve`: the rules of the three scopes at the session's position (global, the active scenario's, the
  active step's) minus disabled, exhausted and cooling-down ones; `when_expression` rules decided
  (true: matched, false or unknown: not); the rest ranked against the message (score, then priority,
  then id) and capped, every rule left out recorded with its reason. Scenarios likewise.
- `apply_relationships`: `overrides` and `requires` over the rules that applied (after the model's filtering).

Ranking goes through a `Ranker` (focal.alignment.ranking); `index_for` caches its index per tenant,
agent, version and ranker. Scenario moves decided without a model are in focal.alignment.journeys.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final, NamedTuple

from focal.alignment.cache import ConfigCache
from focal.alignment.config import AlignmentConfig
from focal.alignment.ranking import DEFAULT_RANKER, RankedText, Ranker, RankIndex
from focal.alignment.rules import Rule
from focal.alignment.scenarios import Scenario
from focal.alignment.session import AlignmentState, Situation, turn_variables
from focal.alignment.verdicts import Verdicts

__all__ = [
    "DroppedRule",
    "DroppedScenario",
    "RankedRule",
    "RetrievalIndex",
    "RetrievalResult",
    "RuleDecision",
    "ScenarioCandidate",
    "apply_relationships",
    "index_for",
    "retrieve",
]

DEFAULT_MAX_RULES: Final = 20
DEFAULT_MAX_SCENARIOS: Final = 5


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

    def __str__(self) -> str:  # what Agno stores of the step's output: ids, not the rules
        return (
            f"candidates={list(self.candidate_ids)} matched={list(self.matched_ids)} "
            f"scenarios={[c.scenario_id for c in self.scenario_candidates]}"
        )

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
    verdicts = Verdicts(config, variables)
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


def _scenarios(
    config: AlignmentConfig,
    prepared: _Prepared,
    state: AlignmentState,
    query: str,
    verdicts: Verdicts,
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
