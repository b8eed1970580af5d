"""An unknown task type in a catalog: an error, unless `FOCAL_DEFAULT_TASK_TIER` routes it on that tier."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from focal import ConfigError
from focal.routing import (
    AgentCatalogs,
    CustomTask,
    ModelRegistry,
    ModelResolver,
    OverrideRepository,
    ResolutionSource,
    Tier,
    load_routing_config,
)
from focal.storage import make_sync_engine


def _configs(tmp_path: Path, config_dir: Path) -> Path:
    target = tmp_path / "configs"
    shutil.copytree(config_dir, target)
    support = target / "agents" / "support.yaml"
    text = support.read_text()
    for old, new in [
        ("task_type: scenario_navigation", "task_type: poetry"),  # no model choice: the task decides
        (
            "task_type: enforcement_judging\n    provider: openai\n    tier: capable",
            "task_type: Haiku-Judging\n    provider: openai",
        ),
    ]:
        assert old in text, old
        text = text.replace(old, new, 1)
    support.write_text(text)
    return target


@pytest.fixture
def resolver_for(db_url: str) -> Iterator:  # type: ignore[type-arg]
    engines = []

    def build(registry: ModelRegistry, catalogs: AgentCatalogs, default_tier: Tier | None) -> ModelResolver:
        engine = make_sync_engine(db_url)
        engines.append(engine)
        return ModelResolver(
            registry, catalogs, OverrideRepository(registry, catalogs, engine=engine), default_task_tier=default_tier
        )

    yield build
    for engine in engines:
        engine.dispose()


def test_without_a_default_tier_an_unknown_task_is_an_error(tmp_path: Path, config_dir: Path) -> None:
    configs = _configs(tmp_path, config_dir)
    with pytest.raises(ConfigError) as info:
        load_routing_config(configs)
    support = str(configs / "agents" / "support.yaml")
    assert [(p.path, p.key) for p in info.value.problems] == [
        (support, "steps.scenario_filtering.task_type"),
        (support, "steps.enforcement.task_type"),
    ]
    assert all("FOCAL_DEFAULT_TASK_TIER" in p.detail for p in info.value.problems)


def test_the_default_tier_routes_the_unknown_task_and_the_reason_says_so(
    tmp_path: Path, config_dir: Path, resolver_for
) -> None:  # type: ignore[no-untyped-def]
    registry, catalogs = load_routing_config(_configs(tmp_path, config_dir), default_task_tier=Tier.PREMIUM)
    resolver = resolver_for(registry, catalogs, Tier.PREMIUM)

    scenario = resolver.resolve("acme", "support", "scenario_filtering")
    assert scenario.source is ResolutionSource.TASK_DEFAULT
    # the premium tier, not the cheap tier of the step's own task (scenario_navigation)
    assert scenario.model.ref == registry.get("anthropic", Tier.PREMIUM).ref
    assert isinstance(scenario.task_type, CustomTask) and scenario.task_type.value == "poetry"
    assert "task 'poetry' (unknown task type: default tier from FOCAL_DEFAULT_TASK_TIER) -> tier premium" in (
        scenario.reason
    )

    enforcement = resolver.resolve("acme", "support", "enforcement")  # a provider hint, the tier from the task
    assert enforcement.source is ResolutionSource.AGENT_CATALOG
    assert enforcement.model.ref == registry.get("openai", Tier.PREMIUM).ref
    assert enforcement.task_type.value == "haiku_judging"
    assert "default tier for unknown task type haiku_judging (FOCAL_DEFAULT_TASK_TIER)" in enforcement.reason


def test_known_tasks_keep_their_own_tier_when_a_default_is_set(tmp_path: Path, config_dir: Path, resolver_for) -> None:  # type: ignore[no-untyped-def]
    registry, catalogs = load_routing_config(config_dir, default_task_tier=Tier.PREMIUM)
    scenario = resolver_for(registry, catalogs, Tier.PREMIUM).resolve("acme", "support", "scenario_filtering")
    assert scenario.model.tier is Tier.CHEAP and scenario.task_type.value == "scenario_navigation"
    assert "unknown" not in scenario.reason


def test_custom_task_reads_like_a_task_type() -> None:
    task = CustomTask("poetry")
    assert task == "poetry" and task.value == "poetry" and repr(task) == "CustomTask('poetry')"
