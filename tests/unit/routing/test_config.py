"""Loading and validating a whole config directory (`models.yaml` + `agents/`)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from focal import ConfigError
from focal.routing import Tier, load_routing_config, validate_paths


def _copy(tmp_path: Path, config_dir: Path) -> Path:
    target = tmp_path / "configs"
    shutil.copytree(config_dir, target)
    return target


def test_load_routing_config(config_dir: Path) -> None:
    registry, catalogs = load_routing_config(config_dir)
    assert registry.source == config_dir / "models.yaml"
    assert catalogs.agent_ids() == ["research", "support"]
    registry, catalogs = load_routing_config(str(config_dir), default_task_tier=Tier.CHEAP)
    assert catalogs.get("support").step("generation").model.ref == "anthropic/claude-sonnet-5"  # type: ignore[union-attr]


def test_load_routing_config_reports_the_registry_first(tmp_path: Path, config_dir: Path) -> None:
    configs = _copy(tmp_path, config_dir)
    (configs / "models.yaml").unlink()
    with pytest.raises(ConfigError) as info:
        load_routing_config(configs)
    assert str(info.value) == f"{configs / 'models.yaml'}: file not found"
    shutil.rmtree(tmp_path / "configs")
    configs = _copy(tmp_path, config_dir)
    shutil.rmtree(configs / "agents")
    with pytest.raises(ConfigError, match="agents: agent catalog directory not found"):
        load_routing_config(configs)


def test_validate_a_good_directory(config_dir: Path) -> None:
    checked, problems = validate_paths([config_dir], config_dir=config_dir)
    assert problems == []
    assert checked == [
        config_dir / "models.yaml",
        config_dir / "agents" / "research.yaml",
        config_dir / "agents" / "support.yaml",
    ]


def test_validate_single_files_against_the_config_dir_registry(tmp_path: Path, config_dir: Path) -> None:
    bad = tmp_path / "support.yaml"
    bad.write_text(
        (config_dir / "agents" / "support.yaml").read_text().replace("model: openai:cheap", "model: x:cheap")
    )
    checked, problems = validate_paths([bad, config_dir / "agents" / "research.yaml"], config_dir=config_dir)
    assert checked == [config_dir / "models.yaml", bad, config_dir / "agents" / "research.yaml"]
    assert [(p.path, p.key) for p in problems] == [(str(bad), "steps.rule_filtering.model")]
    assert "unknown provider 'x'" in str(problems[0])


def test_validate_a_registry_file_by_content(tmp_path: Path, config_dir: Path) -> None:
    registry_file = tmp_path / "prices.yaml"  # not named models.yaml, but has `providers:`
    registry_file.write_text(
        (config_dir / "models.yaml").read_text().replace("input_cost_per_million: 0.15", "input_cost_per_million: -1")
    )
    checked, problems = validate_paths([registry_file], config_dir=config_dir)
    assert checked == [registry_file]
    assert [p.key for p in problems] == ["providers.openai.models[0].input_cost_per_million"]


def test_validate_a_directory_of_catalogs_and_missing_paths(tmp_path: Path, config_dir: Path) -> None:
    agents = tmp_path / "agents"
    agents.mkdir()
    (agents / "sales.yaml").write_text("default_provider: openai\nsteps:\n  generation:\n    task_type: poetry\n")
    empty = tmp_path / "empty"
    empty.mkdir()
    checked, problems = validate_paths([agents, empty, tmp_path / "gone.yaml"], config_dir=config_dir)
    assert checked == [config_dir / "models.yaml", agents / "sales.yaml"]
    assert [(Path(p.path or "").name, p.key, p.detail.split(" (")[0]) for p in problems] == [
        ("sales.yaml", "steps.generation.task_type", "unknown task type 'poetry'"),
        ("empty", None, "no YAML files found"),
        ("gone.yaml", None, "file not found"),
    ]
    _, problems = validate_paths([agents], config_dir=config_dir, default_task_tier=Tier.PREMIUM)
    assert problems == []  # a default tier makes the unknown task acceptable


def test_validate_never_raises_on_a_broken_registry(tmp_path: Path, config_dir: Path) -> None:
    configs = _copy(tmp_path, config_dir)
    (configs / "models.yaml").write_text("providers: [\n")
    checked, problems = validate_paths([configs], config_dir=configs)
    assert checked[0] == configs / "models.yaml"
    assert len(problems) == 1 and "invalid YAML" in str(problems[0])  # catalogs are not checked without a registry


# --- `validate_paths` runs the checks `load_routing_config` runs --------------------------------


def test_validate_refuses_two_files_for_one_agent_like_load(tmp_path: Path, config_dir: Path) -> None:
    configs = _copy(tmp_path, config_dir)
    shutil.copy(configs / "agents" / "support.yaml", configs / "agents" / "support.yml")
    with pytest.raises(ConfigError, match="agent 'support' is also defined in"):
        load_routing_config(configs)
    for paths in (
        [configs],
        [configs / "agents"],
        [configs / "agents" / "support.yaml", configs / "agents" / "support.yml"],
    ):
        _, problems = validate_paths(paths, config_dir=configs)
        assert [(p.path, p.detail) for p in problems] == [
            (
                str(configs / "agents" / "support.yml"),
                f"agent 'support' is also defined in {configs / 'agents' / 'support.yaml'}",
            )
        ], paths


def test_validate_the_same_file_twice_is_not_a_duplicate(config_dir: Path) -> None:
    support = config_dir / "agents" / "support.yaml"
    _, problems = validate_paths([support, support, config_dir / "agents"], config_dir=config_dir)
    assert problems == []


def test_validate_refuses_a_config_dir_without_agents_like_load(tmp_path: Path, config_dir: Path) -> None:
    configs = _copy(tmp_path, config_dir)
    shutil.rmtree(configs / "agents")
    with pytest.raises(ConfigError, match="agent catalog directory not found"):
        load_routing_config(configs)
    checked, problems = validate_paths([configs], config_dir=configs)
    assert checked == [configs / "models.yaml"]
    assert [(p.path, p.detail) for p in problems] == [(str(configs / "agents"), "agent catalog directory not found")]


def test_a_bad_default_provider_does_not_hide_the_other_problems(tmp_path: Path, config_dir: Path) -> None:
    configs = _copy(tmp_path, config_dir)
    support = configs / "agents" / "support.yaml"
    text = support.read_text()
    for old, new in [
        ("default_provider: anthropic", "default_provider: nope"),
        ("max_tokens: 800", "max_tokens: 80000"),  # the explicit generation model does not need the default
        ("model: openai:cheap", "model: openai:gold"),
        ("fallbacks: [anthropic:capable]", "fallbacks: [ghost:capable]"),  # enforcement names its provider
    ]:
        assert old in text, old
        text = text.replace(old, new, 1)
    support.write_text(text)
    _, problems = validate_paths([configs], config_dir=configs)
    assert [p.key for p in problems] == [
        "default_provider",
        "steps.rule_filtering.model",
        "steps.generation.max_tokens",
        "steps.enforcement.fallbacks[0]",
    ]
    assert "unknown provider 'nope'" in problems[0].detail
    with pytest.raises(ConfigError) as info:
        load_routing_config(configs)
    assert [p.key for p in info.value.problems] == [p.key for p in problems]


@pytest.mark.parametrize(
    "nesting", ["x: " + "[" * 1000 + "]" * 1000, "x:" + "".join(f"\n{' ' * i}a:" for i in range(1, 900)) + " 1"]
)
def test_deeply_nested_yaml_is_a_config_error_naming_the_file(tmp_path: Path, config_dir: Path, nesting: str) -> None:
    configs = _copy(tmp_path, config_dir)
    support = configs / "agents" / "support.yaml"
    support.write_text(support.read_text() + nesting + "\n")
    _, problems = validate_paths([configs], config_dir=configs)
    assert [(p.path, p.detail) for p in problems] == [(str(support), "invalid YAML: nested too deeply")]
    registry = configs / "models.yaml"
    registry.write_text(registry.read_text() + nesting.replace("x:", "deep:", 1) + "\n")
    with pytest.raises(ConfigError, match=r"models\.yaml: invalid YAML: nested too deeply"):
        load_routing_config(configs)
