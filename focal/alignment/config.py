"""`AlignmentConfig`: one version of an agent's configuration, compiled and indexed for a turn."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from focal.alignment._base import Scope, VariableSpec
from focal.alignment.document import AlignmentDocument
from focal.alignment.expressions import Expression
from focal.alignment.profile import AgentProfile
from focal.alignment.rules import Rule
from focal.alignment.scenarios import Scenario, ScenarioStep
from focal.alignment.templates import Template, TemplateMode
from focal.alignment.tool_catalog import ToolCatalog

__all__ = ["AlignmentConfig", "compile_config"]


def _frozen(mapping: dict) -> Mapping:  # type: ignore[type-arg]
    return MappingProxyType(mapping)


@dataclass(frozen=True, slots=True)
class AlignmentConfig:
    """Immutable and pre-indexed: rules by scope, scenarios and steps by id, templates by id and mode,
    every expression compiled. Built once per (tenant, agent, version) and shared by every turn."""

    tenant_id: str
    version: str
    document: AlignmentDocument
    rules_by_id: Mapping[str, Rule]
    global_rules: tuple[Rule, ...]
    scenario_rules: Mapping[str, tuple[Rule, ...]]
    step_rules: Mapping[tuple[str, str], tuple[Rule, ...]]
    scenarios: Mapping[str, Scenario]
    steps: Mapping[tuple[str, str], ScenarioStep]
    templates: Mapping[str, Template]
    fallback_templates: tuple[Template, ...]
    collected: Mapping[str, VariableSpec]
    """The variables scenario steps collect from users, by name (the first step collecting a name, scenarios
    by id and steps in order, gives its type and pattern)."""
    expressions: Mapping[str, Expression] = field(default_factory=dict)

    @property
    def agent_id(self) -> str:
        return self.document.profile.agent_id

    @property
    def profile(self) -> AgentProfile:
        return self.document.profile

    def expression(self, source: str | None) -> Expression | None:
        return self.expressions.get(source) if source else None

    def rules_for(self, scenario_id: str | None, step_id: str | None) -> tuple[Rule, ...]:
        """The rules of all three scopes in play at this position (global, the scenario's, the step's
        and those the step lists by id)."""
        rules = list(self.global_rules)
        if scenario_id:
            rules.extend(self.scenario_rules.get(scenario_id, ()))
            if step_id:
                rules.extend(self.step_rules.get((scenario_id, step_id), ()))
                step = self.steps.get((scenario_id, step_id))
                if step is not None:
                    listed = {r.id for r in rules}
                    rules.extend(self.rules_by_id[r] for r in step.rules if r not in listed and r in self.rules_by_id)
        return tuple(rules)


def compile_config(
    document: AlignmentDocument, tenant_id: str, expressions: Mapping[str, Expression] | None = None
) -> AlignmentConfig:
    """Index `document` (already validated: `expressions` are the ones `validate_document` compiled)."""
    if expressions is None:
        from focal.alignment.validation import validate_document  # (validation imports nothing of this)

        expressions = validate_document(document, ToolCatalog(_bound_tools(document)))
    scenario_rules: dict[str, list[Rule]] = {}
    step_rules: dict[tuple[str, str], list[Rule]] = {}
    global_rules: list[Rule] = []
    for rule in document.rules:
        if rule.scope is Scope.GLOBAL:
            global_rules.append(rule)
        elif rule.scope is Scope.SCENARIO:
            scenario_rules.setdefault(rule.scope_id or "", []).append(rule)
        else:
            scenario_id, _, step_id = (rule.scope_id or "").partition("/")
            step_rules.setdefault((scenario_id, step_id), []).append(rule)
    return AlignmentConfig(
        tenant_id=tenant_id,
        version=document.version,
        document=document,
        rules_by_id=_frozen({r.id: r for r in document.rules}),
        global_rules=tuple(global_rules),
        scenario_rules=_frozen({k: tuple(v) for k, v in scenario_rules.items()}),
        step_rules=_frozen({k: tuple(v) for k, v in step_rules.items()}),
        scenarios=_frozen({s.id: s for s in document.scenarios}),
        steps=_frozen({(s.id, step.id): step for s in document.scenarios for step in s.steps}),
        templates=_frozen({t.id: t for t in document.templates}),
        fallback_templates=tuple(t for t in document.templates if t.mode is TemplateMode.FALLBACK),
        collected=_frozen(_collected(document)),
        expressions=_frozen(dict(expressions)),
    )


def _collected(document: AlignmentDocument) -> dict[str, VariableSpec]:
    specs: dict[str, VariableSpec] = {}
    for scenario in sorted(document.scenarios, key=lambda s: s.id):
        for step in scenario.steps:
            for spec in step.collects:
                specs.setdefault(spec.name, spec)
    return specs


def _bound_tools(document: AlignmentDocument) -> list:  # type: ignore[type-arg]
    """Specs for the tools a document binds (used when no catalog is at hand: references are not checked)."""
    from focal.alignment.tool_catalog import ToolSpec

    ids = {b.tool for r in document.rules for b in r.tools}
    ids |= {b.tool for s in document.scenarios for step in s.steps for b in step.tools}
    return [ToolSpec(tool_id) for tool_id in sorted(ids)]
