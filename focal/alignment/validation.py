"""Checks across a whole document: references, expressions, placeholders, scenario graphs, cycles.

Every problem is collected (not just the first) and names its file, key path and line.
"""

from __future__ import annotations

from collections.abc import Iterable

from focal._yaml import raise_problems
from focal.alignment.bindings import ToolBinding
from focal.alignment.document import AlignmentDocument
from focal.alignment.expressions import Expression, ExpressionError, compile_expression
from focal.alignment.folder import Sources
from focal.alignment.scenarios import Scenario
from focal.alignment.templates import placeholders
from focal.alignment.tool_catalog import ToolCatalog
from focal.errors import ConfigError

__all__ = ["validate_document"]


def validate_document(
    document: AlignmentDocument, catalog: ToolCatalog, sources: Sources | None = None
) -> dict[str, Expression]:
    """Check `document` against itself and the tool catalog; return its compiled expressions by source.

    Raises:
        ConfigError: listing every problem.
    """
    sources = sources or Sources()
    problems: list[ConfigError] = []
    known = document.known_variables(catalog.outputs())
    compiled: dict[str, Expression] = {}

    def expression(kind: str, item_id: str, key: str, source: str | None) -> None:
        if source is None:
            return
        try:
            parsed = compiled.get(source) or compile_expression(source)
        except ExpressionError as exc:
            problems.append(sources.error(kind, item_id, key, f"expression {source!r}: {exc}"))
            return
        unknown = sorted(parsed.names - known)
        if unknown:
            problems.append(
                sources.error(
                    kind, item_id, key, f"expression {source!r} names unknown variable(s) {', '.join(unknown)}"
                )
            )
            return
        compiled[source] = parsed

    def duplicates(kind: str, ids: Iterable[str], key: str = "id") -> None:
        seen: set[str] = set()
        for item_id in ids:
            if item_id in seen:
                problems.append(sources.error(kind, item_id, key, f"{kind} id {item_id!r} is used twice"))
            seen.add(item_id)

    def tools(kind: str, item_id: str, key: str, bindings: tuple[ToolBinding, ...]) -> None:
        for i, binding in enumerate(bindings):
            spec = catalog.get(binding.tool)
            if spec is None:
                listing = ", ".join(catalog.ids()) or "none registered"
                problems.append(
                    sources.error(kind, item_id, f"{key}[{i}].tool", f"unknown tool {binding.tool!r} ({listing})")
                )
                continue
            for parameter, variable in binding.arguments.items():
                if spec.parameters and parameter not in spec.parameters:
                    problems.append(
                        sources.error(
                            kind,
                            item_id,
                            f"{key}[{i}].arguments.{parameter}",
                            f"tool {spec.id!r} has no parameter {parameter!r}",
                        )
                    )
                if variable not in known:
                    problems.append(
                        sources.error(
                            kind, item_id, f"{key}[{i}].arguments.{parameter}", f"unknown variable {variable!r}"
                        )
                    )

    rule_ids = {r.id for r in document.rules}
    template_ids = {t.id for t in document.templates}
    scenarios = {s.id: s for s in document.scenarios}

    def template_refs(kind: str, item_id: str, key: str, ids: tuple[str, ...]) -> None:
        for i, template_id in enumerate(ids):
            if template_id not in template_ids:
                problems.append(sources.error(kind, item_id, f"{key}[{i}]", f"unknown template {template_id!r}"))

    def scope(kind: str, item_id: str, scope_value: str, scope_id: str | None) -> None:
        if scope_value == "scenario" and scope_id not in scenarios:
            problems.append(sources.error(kind, item_id, "scope_id", f"unknown scenario {scope_id!r}"))
        elif scope_value == "step" and scope_id is not None:
            scenario_id, _, step_id = scope_id.partition("/")
            scenario = scenarios.get(scenario_id)
            if scenario is None:
                problems.append(sources.error(kind, item_id, "scope_id", f"unknown scenario {scenario_id!r}"))
            elif scenario.step(step_id) is None:
                problems.append(
                    sources.error(kind, item_id, "scope_id", f"scenario {scenario_id!r} has no step {step_id!r}")
                )

    duplicates("rule", (r.id for r in document.rules))
    duplicates("template", (t.id for t in document.templates))
    duplicates("scenario", (s.id for s in document.scenarios))

    for rule in document.rules:
        scope("rule", rule.id, rule.scope.value, rule.scope_id)
        expression("rule", rule.id, "when_expression", rule.when_expression)
        expression("rule", rule.id, "check", rule.check)
        tools("rule", rule.id, "tools", rule.tools)
        template_refs("rule", rule.id, "templates", rule.templates)
        for key in ("overrides", "requires"):
            for i, other in enumerate(getattr(rule, key)):
                if other not in rule_ids:
                    problems.append(sources.error("rule", rule.id, f"{key}[{i}]", f"unknown rule {other!r}"))
    for key in ("overrides", "requires"):
        cycle = _cycle({r.id: [o for o in getattr(r, key) if o in rule_ids] for r in document.rules})
        if cycle:
            problems.append(sources.error("rule", cycle[0], key, f"`{key}` cycle: {' -> '.join(cycle)}"))

    for template in document.templates:
        scope("template", template.id, template.scope.value, template.scope_id)
        expression("template", template.id, "trigger_expression", template.trigger_expression)
        unknown = sorted(placeholders(template.text) - known)
        if unknown:
            problems.append(
                sources.error("template", template.id, "text", f"unknown placeholder(s) {', '.join(unknown)}")
            )

    for scenario in document.scenarios:
        problems.extend(_scenario_problems(scenario, sources))
        expression("scenario", scenario.id, "entry_expression", scenario.entry_expression)
        duplicates_in = [s.id for s in scenario.steps]
        for step_id in {s for s in duplicates_in if duplicates_in.count(s) > 1}:
            problems.append(sources.error("scenario", scenario.id, "steps", f"step id {step_id!r} is used twice"))
        for i, step in enumerate(scenario.steps):
            at = f"steps[{i}]"
            tools("scenario", scenario.id, f"{at}.tools", step.tools)
            template_refs("scenario", scenario.id, f"{at}.templates", step.templates)
            for j, rule_id in enumerate(step.rules):
                if rule_id not in rule_ids:
                    problems.append(
                        sources.error("scenario", scenario.id, f"{at}.rules[{j}]", f"unknown rule {rule_id!r}")
                    )
            for j, transition in enumerate(step.transitions):
                expression(
                    "scenario", scenario.id, f"{at}.transitions[{j}].when_expression", transition.when_expression
                )
    raise_problems(problems)
    return compiled


def _scenario_problems(scenario: Scenario, sources: Sources) -> list[ConfigError]:
    problems: list[ConfigError] = []
    steps = {s.id: s for s in scenario.steps}
    if scenario.entry_step not in steps:
        return [sources.error("scenario", scenario.id, "entry_step", f"no step {scenario.entry_step!r}")]
    for i, step in enumerate(scenario.steps):
        for j, transition in enumerate(step.transitions):
            if transition.to not in steps:
                problems.append(
                    sources.error(
                        "scenario", scenario.id, f"steps[{i}].transitions[{j}].to", f"no step {transition.to!r}"
                    )
                )
        if step.terminal and step.transitions:
            problems.append(
                sources.error("scenario", scenario.id, f"steps[{i}].terminal", "a terminal step has no transitions")
            )
        if not step.terminal and not step.transitions:
            problems.append(
                sources.error(
                    "scenario",
                    scenario.id,
                    f"steps[{i}]",
                    f"step {step.id!r} is a dead end: no transition, not terminal",
                )
            )
    reachable = _reachable(
        scenario.entry_step, {s.id: [t.to for t in s.transitions if t.to in steps] for s in scenario.steps}
    )
    for i, step in enumerate(scenario.steps):
        if step.id not in reachable:
            problems.append(
                sources.error(
                    "scenario",
                    scenario.id,
                    f"steps[{i}]",
                    f"step {step.id!r} is unreachable from {scenario.entry_step!r}",
                )
            )
    if not any(steps[s].terminal for s in reachable):
        problems.append(sources.error("scenario", scenario.id, "steps", "no terminal step is reachable"))
    return problems


def _reachable(start: str, edges: dict[str, list[str]]) -> set[str]:
    seen, todo = {start}, [start]
    while todo:
        for nxt in edges.get(todo.pop(), []):
            if nxt not in seen:
                seen.add(nxt)
                todo.append(nxt)
    return seen


def _cycle(edges: dict[str, list[str]]) -> list[str] | None:
    """A cycle in `edges` as a path `a -> b -> a`, or None."""
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in edges.get(node, []):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if state.get(nxt) is None:
                found = visit(nxt)
                if found:
                    return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(edges):
        if node not in state:
            found = visit(node)
            if found:
                return found
    return None
