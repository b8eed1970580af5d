"""Per-agent model catalogs: the shipped ones, and every kind of bad file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from focal import ConfigError, NotFoundError
from focal.routing import AgentCatalogs, ModelRegistry, PipelineStep, TaskType, Tier, load_routing_config


def test_shipped_catalogs(catalogs: AgentCatalogs) -> None:
    assert catalogs.agent_ids() == ["research", "support"]
    support = catalogs.get("support")
    gen = support.step("generation")
    assert gen.model is not None and gen.model.ref == "anthropic/claude-sonnet-5"
    assert [m.ref for m in gen.fallbacks or ()] == ["openai/gpt-4o", "anthropic/claude-haiku-4-5"]
    assert (gen.temperature, gen.max_tokens, gen.timeout_seconds) == (0.4, 800, 45)
    scenario = support.step(PipelineStep.SCENARIO_FILTERING)
    assert scenario.has_model_choice is False and scenario.fallbacks is None  # task default, default chain
    enforcement = support.step("enforcement")
    assert (enforcement.provider, enforcement.tier) == ("openai", Tier.CAPABLE)
    research = catalogs.get("research")
    assert research.default_provider == "openai"
    assert research.step("enforcement").fallbacks == ()  # explicitly none
    assert research.step("generation").task_type is TaskType.COMPLEX_REASONING


def test_unknown_agent_and_step(catalogs: AgentCatalogs) -> None:
    with pytest.raises(NotFoundError, match=r"unknown agent 'ghost'.*research, support"):
        catalogs.get("ghost")
    with pytest.raises(NotFoundError, match="unknown step 'greeting'"):
        catalogs.get("support").step("greeting")


def _dir(tmp_path: Path, config_dir: Path) -> Path:
    target = tmp_path / "configs"
    shutil.copytree(config_dir, target)
    return target


def _edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize(
    ("old", "new", "key", "fragment"),
    [
        ("model: openai:cheap", "model: openai:gold", "steps.rule_filtering.model", "tier 'gold'"),
        ("model: openai:cheap", "model: azure:cheap", "steps.rule_filtering.model", "unknown provider"),
        ("  rule_filtering:", "  greeting:\n    tier: cheap\n  rule_filtering:", "steps.greeting", "Extra inputs"),
        (
            "fallbacks: [anthropic:cheap]",
            "fallbacks: [openai/gpt-4o-mini]",
            "steps.rule_filtering.fallbacks[0]",
            "fallback cycle",
        ),
        (
            "fallbacks: [openai:capable, anthropic:cheap]",
            "fallbacks: [openai:capable, openai/gpt-4o]",
            "steps.generation.fallbacks[1]",
            "fallback cycle",
        ),
        ("model: openai:cheap", "model: openai:cheap\n    tier: cheap", "steps.rule_filtering", "not both"),
        (
            "task_type: context_extraction",
            "task_type: poetry",
            "steps.context_extraction.task_type",
            "unknown task type",
        ),
        ("default_provider: anthropic", "default_provider: azure", "default_provider", "unknown provider"),
        (
            "    provider: openai\n    tier: capable",
            "    provider: local\n    tier: capable",
            "steps.enforcement.tier",
            "no model in tier",
        ),
        ("agent_id: support", "agent_id: helpdesk", "agent_id", "does not match the file name"),
        ("max_tokens: 800", "max_tokens: 900000", "steps.generation.max_tokens", "exceeds"),
        ("temperature: 0.4", "temperature: 7", "steps.generation.temperature", "less than or equal"),
    ],
)
def test_bad_catalogs_name_file_and_key(
    tmp_path: Path, config_dir: Path, registry: ModelRegistry, old: str, new: str, key: str, fragment: str
) -> None:
    configs = _dir(tmp_path, config_dir)
    support = configs / "agents" / "support.yaml"
    _edit(support, old, new)
    with pytest.raises(ConfigError) as info:
        AgentCatalogs.load(configs / "agents", registry)
    assert any(p.path == str(support) and p.key == key and fragment in str(p) for p in info.value.problems), [
        str(p) for p in info.value.problems
    ]


def test_every_problem_of_every_file_is_collected(tmp_path: Path, config_dir: Path) -> None:
    configs = _dir(tmp_path, config_dir)
    _edit(configs / "agents" / "support.yaml", "model: openai:cheap", "model: openai:gold")
    _edit(configs / "agents" / "support.yaml", "fallbacks: [anthropic:cheap]", "fallbacks: [nope:cheap]")
    _edit(configs / "agents" / "research.yaml", "model: hybrid:cheap", "model: hybrid/gpt-4o-mini")
    with pytest.raises(ConfigError) as info:
        load_routing_config(configs)
    keys = {(Path(p.path or "").name, p.key) for p in info.value.problems}
    assert keys == {
        ("support.yaml", "steps.rule_filtering.model"),
        ("support.yaml", "steps.rule_filtering.fallbacks[0]"),
        ("research.yaml", "steps.context_extraction.model"),
    }
    assert str(info.value).startswith("3 problems")


def test_unknown_task_allowed_with_a_default_tier(tmp_path: Path, config_dir: Path, registry: ModelRegistry) -> None:
    configs = _dir(tmp_path, config_dir)
    _edit(configs / "agents" / "support.yaml", "task_type: scenario_navigation", "task_type: poetry")
    catalogs = AgentCatalogs.load(configs / "agents", registry, default_tier=Tier.CHEAP)
    assert catalogs.get("support").step("scenario_filtering").task_type is TaskType.SCENARIO_NAVIGATION


def test_missing_directory(tmp_path: Path, registry: ModelRegistry) -> None:
    with pytest.raises(ConfigError, match="not found"):
        AgentCatalogs.load(tmp_path / "none", registry)
