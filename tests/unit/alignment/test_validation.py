"""Every validation problem names its file, key path and line; a valid folder loads."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from focal.alignment import ToolCatalog, load_folder
from focal.errors import ConfigError

Edit = Callable[[str, str, str], Path]


def problems(folder: Path, catalog: ToolCatalog) -> list[ConfigError]:
    with pytest.raises(ConfigError) as info:
        load_folder(folder, catalog)
    return info.value.problems


def only(folder: Path, catalog: ToolCatalog) -> ConfigError:
    (problem,) = problems(folder, catalog)
    return problem


def line_of(path: Path, text: str) -> int:
    return next(i for i, line in enumerate(path.read_text().splitlines(), 1) if text in line)


def test_the_shipped_folder_is_valid(folder: Path, catalog: ToolCatalog) -> None:
    document, expressions = load_folder(folder, catalog)
    assert document.agent_id == "support" and len(document.scenarios) == 2
    assert {"refund_amount > 50", 'customer_tier == "gold"'} <= set(expressions)


def test_yaml_tabs(folder: Path, catalog: ToolCatalog, edit: Edit) -> None:
    path = edit("rules.yaml", "    name: Greet once", "\tname: Greet once")
    err = only(folder, catalog)
    assert err.path == str(path) and "invalid YAML at line" in str(err)


def test_duplicate_yaml_keys(folder: Path, catalog: ToolCatalog, edit: Edit) -> None:
    path = edit("rules.yaml", "    name: Greet once\n", "    name: Greet once\n    name: Greet twice\n")
    err = only(folder, catalog)
    assert err.path == str(path) and err.key == "rules[0].name" and "duplicate key" in str(err)


def test_unknown_key_names_its_line(folder: Path, catalog: ToolCatalog, edit: Edit) -> None:
    path = edit("rules.yaml", "    priority: 10\n", "    priority: 10\n    prority: 3\n")
    err = only(folder, catalog)
    assert (err.path, err.key, err.line) == (str(path), "rules[0].prority", line_of(path, "prority"))
    assert "unknown key" in str(err) and f"{path}:{err.line}: rules[0].prority" in str(err)


def test_a_rule_without_a_condition(folder: Path, catalog: ToolCatalog, edit: Edit) -> None:
    path = edit("rules.yaml", "    when: The customer greets the agent or opens the conversation.\n", "")
    err = only(folder, catalog)
    assert err.path == str(path) and err.key == "rules[0]" and "always-on rule is not allowed" in str(err)


def test_duplicate_ids(folder: Path, catalog: ToolCatalog, edit: Edit) -> None:
    path = edit("rules.yaml", "  - id: angry_customer\n", "  - id: greeting\n")
    errs = problems(folder, catalog)
    assert any(e.path == str(path) and "rule id 'greeting' is used twice" in str(e) for e in errs)


def test_unknown_scope_id(folder: Path, catalog: ToolCatalog, edit: Edit) -> None:
    path = edit("rules.yaml", "    scope_id: order_status/collect_order_number", "    scope_id: order_status/nowhere")
    err = only(folder, catalog)
    assert (err.path, err.key) == (str(path), "rules[8].scope_id") and "has no step 'nowhere'" in str(err)
    assert err.line == line_of(path, "order_status/nowhere")


def test_unknown_tool(folder: Path, catalog: ToolCatalog, edit: Edit) -> None:
    path = edit("rules.yaml", "      - tool: refund_request", "      - tool: refund_everything")
    err = only(folder, catalog)
    assert (err.path, err.key) == (str(path), "rules[7].tools[0].tool")
    assert "unknown tool 'refund_everything'" in str(err) and err.line == line_of(path, "refund_everything")


def test_unknown_template(folder: Path, catalog: ToolCatalog, edit: Edit) -> None:
    path = edit("rules.yaml", "    templates: [legal_notice]", "    templates: [legal_poem]")
    err = only(folder, catalog)
    assert (err.path, err.key) == (str(path), "rules[3].templates[0]") and "unknown template" in str(err)


def test_unknown_placeholder(folder: Path, catalog: ToolCatalog, edit: Edit) -> None:
    path = edit("templates.yaml", "{order_status}.", "{order_mood}.")
    err = only(folder, catalog)
    assert (err.path, err.key) == (str(path), "templates[1].text") and "order_mood" in str(err)


def test_an_expression_that_does_not_parse(folder: Path, catalog: ToolCatalog, edit: Edit) -> None:
    path = edit("rules.yaml", "when_expression: refund_amount > 50", "when_expression: refund_amount >> > 50")
    err = only(folder, catalog)
    assert (err.path, err.key) == (str(path), "rules[6].when_expression") and "does not parse" in str(err)
    assert err.line == line_of(path, "refund_amount >> > 50")


def test_an_expression_naming_no_known_variable(folder: Path, catalog: ToolCatalog, edit: Edit) -> None:
    path = edit(
        "scenarios/refund.yaml", "when_expression: refund_amount > 0 and", "when_expression: refund_amout > 0 and"
    )
    err = only(folder, catalog)
    assert (err.path, err.key) == (str(path), "steps[0].transitions[0].when_expression")
    assert "unknown variable(s) refund_amout" in str(err)


def test_an_unreachable_step(folder: Path, catalog: ToolCatalog, edit: Edit) -> None:
    path = edit("scenarios/refund.yaml", "      - to: done\n", "      - to: decide\n")
    errs = problems(folder, catalog)
    assert any(e.path == str(path) and e.key == "steps[2]" and "'done' is unreachable" in str(e) for e in errs)
    assert any("no terminal step is reachable" in str(e) for e in errs)


def test_a_dangling_transition(folder: Path, catalog: ToolCatalog, edit: Edit) -> None:
    path = edit("scenarios/order_status.yaml", "      - to: report\n", "      - to: reprot\n")
    errs = problems(folder, catalog)
    assert any(
        e.path == str(path) and e.key == "steps[1].transitions[0].to" and "no step 'reprot'" in str(e) for e in errs
    )


def test_no_reachable_terminal(folder: Path, catalog: ToolCatalog, edit: Edit) -> None:
    path = edit(
        "scenarios/order_status.yaml",
        "    templates: [order_status_report]\n    terminal: true\n",
        "    templates: [order_status_report]\n    transitions:\n      - to: lookup\n        when: again\n",
    )
    errs = problems(folder, catalog)
    assert any(e.path == str(path) and "no terminal step is reachable" in str(e) for e in errs)


@pytest.mark.parametrize("relation", ["overrides", "requires"])
def test_relationship_cycles(folder: Path, catalog: ToolCatalog, edit: Edit, relation: str) -> None:
    edit("rules.yaml", "    priority: 10\n", f"    priority: 10\n    {relation}: [legal_question]\n")
    if relation == "overrides":
        pass  # legal_question already overrides greeting
    else:
        edit("rules.yaml", "    overrides: [greeting]\n", "    overrides: [greeting]\n    requires: [greeting]\n")
    errs = problems(folder, catalog)
    assert any(f"`{relation}` cycle" in str(e) and "greeting" in str(e) for e in errs)


def test_unknown_rule_reference(folder: Path, catalog: ToolCatalog, edit: Edit) -> None:
    path = edit("rules.yaml", "    requires: [greeting]", "    requires: [greetings]")
    err = only(folder, catalog)
    assert (err.path, err.key) == (str(path), "rules[1].requires[0]") and "unknown rule 'greetings'" in str(err)


def test_oversize_text(folder: Path, catalog: ToolCatalog, edit: Edit) -> None:
    path = edit("rules.yaml", "    then: Thank the customer", "    then: " + "very " * 900 + "Thank the customer")
    err = only(folder, catalog)
    assert (err.path, err.key) == (str(path), "rules[1].then") and "at most 4000 characters" in str(err)


def test_every_problem_is_reported_at_once(folder: Path, catalog: ToolCatalog, edit: Edit) -> None:
    edit("rules.yaml", "    templates: [legal_notice]", "    templates: [legal_poem]")
    edit("templates.yaml", "{order_status}.", "{order_mood}.")
    edit("scenarios/order_status.yaml", "      - to: report\n", "      - to: reprot\n")
    assert len(problems(folder, catalog)) >= 3
