"""Per-agent model catalogs: the shipped ones, and every kind of bad file."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from focal import ConfigError, NotFoundError
from focal.routing import (
    AgentCatalogs,
    CustomTask,
    ModelRegistry,
    PipelineStep,
    StepModelConfig,
    TaskType,
    Tier,
    load_routing_config,
)
from focal.routing.catalogs import load_catalog

# --- the shipped catalogs ----------------------------------------------------------------------


def _refs(models: tuple | None) -> list[str] | None:  # type: ignore[type-arg]
    return None if models is None else [m.ref for m in models]


def test_shipped_catalogs(catalogs: AgentCatalogs, config_dir: Path) -> None:
    assert catalogs.agent_ids() == ["research", "support"]
    assert "support" in catalogs and "ghost" not in catalogs
    support = catalogs.get("support")
    assert support.agent_id == "support" and support.default_provider == "anthropic"
    assert support.source == config_dir / "agents" / "support.yaml"
    assert support.description.startswith("Customer support assistant")
    assert list(support.steps) == list(PipelineStep)  # every step is filled in, in pipeline order


def test_support_generation(catalogs: AgentCatalogs) -> None:
    gen = catalogs.get("support").step("generation")
    assert gen == catalogs.get("support").step(PipelineStep.GENERATION)
    assert gen.step is PipelineStep.GENERATION and gen.task_type is TaskType.RESPONSE_GENERATION
    assert gen.declared and gen.has_model_choice
    assert gen.model_ref == "anthropic/claude-sonnet-5"
    assert gen.model is not None and gen.model.ref == "anthropic/claude-sonnet-5"
    assert gen.fallback_refs == ("openai:capable", "anthropic:cheap")
    assert _refs(gen.fallbacks) == ["openai/gpt-4o", "anthropic/claude-haiku-4-5"]
    assert (gen.temperature, gen.max_tokens, gen.timeout_seconds) == (0.4, 800, 45)
    assert (gen.tier, gen.provider) == (None, None)


def test_support_other_steps(catalogs: AgentCatalogs) -> None:
    support = catalogs.get("support")
    ctx = support.step("context_extraction")  # a tier hint on the default provider
    assert (ctx.tier, ctx.provider, ctx.model_ref) == (Tier.CHEAP, None, None)
    assert ctx.model is not None and ctx.model.ref == "anthropic/claude-haiku-4-5"
    assert (ctx.temperature, ctx.max_tokens, ctx.timeout_seconds) == (0.0, 600, 20)
    assert ctx.fallbacks is None
    rules = support.step("rule_filtering")
    assert rules.model is not None and rules.model.ref == "openai/gpt-4o-mini"
    assert _refs(rules.fallbacks) == ["anthropic/claude-haiku-4-5"]
    scenario = support.step(PipelineStep.SCENARIO_FILTERING)
    assert scenario.task_type is TaskType.SCENARIO_NAVIGATION
    assert scenario.declared is True  # the file has an entry (temperature) ...
    assert scenario.has_model_choice is False and scenario.model is None  # ... but leaves the model to the task
    assert scenario.fallbacks is None and scenario.fallback_refs is None  # not configured: default chain
    assert scenario.temperature == 0.0
    enforcement = support.step("enforcement")
    assert (enforcement.provider, enforcement.tier) == ("openai", Tier.CAPABLE)
    assert enforcement.model is not None and enforcement.model.ref == "openai/gpt-4o"
    assert _refs(enforcement.fallbacks) == ["anthropic/claude-sonnet-5"]


def test_research_catalog(catalogs: AgentCatalogs) -> None:
    research = catalogs.get("research")
    assert research.default_provider == "openai"
    ctx = research.step("context_extraction")
    assert ctx.task_type is TaskType.EXTRACT and ctx.model_ref == "hybrid:cheap"
    assert ctx.model is not None and ctx.model.ref == "openai/gpt-4o-mini"  # hybrid resolves to a real model
    rules = research.step("rule_filtering")
    assert rules.task_type is TaskType.CLASSIFY and not rules.has_model_choice
    scenario = research.step("scenario_filtering")  # provider hint only: the tier comes from the task
    assert (scenario.provider, scenario.tier) == ("anthropic", None)
    assert scenario.model is not None and scenario.model.ref == "anthropic/claude-haiku-4-5"
    gen = research.step("generation")
    assert gen.task_type is TaskType.COMPLEX_REASONING and gen.tier is Tier.PREMIUM
    assert gen.model is not None and gen.model.ref == "openai/o1"
    assert _refs(gen.fallbacks) == ["anthropic/claude-opus-4-8", "openai/gpt-4o"]
    assert (gen.temperature, gen.max_tokens, gen.timeout_seconds) == (0.2, 2000, 90)
    enforcement = research.step("enforcement")
    assert enforcement.task_type is TaskType.REVIEW
    assert enforcement.model is not None and enforcement.model.ref == "anthropic/claude-sonnet-5"
    assert enforcement.fallbacks == () and enforcement.fallback_refs == ()  # explicitly none, not "default"


def test_unknown_agent_and_step(catalogs: AgentCatalogs) -> None:
    with pytest.raises(NotFoundError, match=r"unknown agent 'ghost' \(agents: research, support\)"):
        catalogs.get("ghost")
    with pytest.raises(NotFoundError, match="unknown step 'greeting'"):
        catalogs.get("support").step("greeting")
    with pytest.raises(NotFoundError, match=r"unknown agent 'x' \(agents: none\)"):
        AgentCatalogs({}).get("x")


def test_absent_steps_are_filled_from_the_task_defaults(tmp_path: Path, registry: ModelRegistry) -> None:
    path = tmp_path / "minimal.yaml"
    path.write_text("default_provider: ollama\n")
    catalog = load_catalog(path, registry)
    assert catalog.agent_id == "minimal"  # from the file name
    assert catalog.description == ""
    for step, cfg in catalog.steps.items():
        assert cfg == StepModelConfig(step=step, task_type=cfg.task_type, declared=False)
    assert catalog.step("generation").task_type is TaskType.RESPONSE_GENERATION


# --- bad files ---------------------------------------------------------------------------------


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
        ("model: openai:cheap", "model: azure:cheap", "steps.rule_filtering.model", "unknown provider 'azure'"),
        (
            "model: anthropic/claude-sonnet-5",
            "model: anthropic/claude-sonnet-4-5",
            "steps.generation.model",
            "unknown model 'anthropic/claude-sonnet-4-5'",
        ),
        ("model: openai:cheap", "model: gpt-4o-mini", "steps.rule_filtering.model", "invalid model reference"),
        ("  rule_filtering:", "  greeting:\n    tier: cheap\n  rule_filtering:", "steps.greeting", "Extra inputs"),
        ("    temperature: 0.4\n", "    temprature: 0.4\n", "steps.generation.temprature", "Extra inputs"),
        (
            "fallbacks: [anthropic:cheap]",
            "fallbacks: [openai/gpt-4o-mini]",
            "steps.rule_filtering.fallbacks[0]",
            "fallback cycle: 'openai/gpt-4o-mini' resolves to openai/gpt-4o-mini, the primary model",
        ),
        (
            "fallbacks: [anthropic:cheap]",
            "fallbacks: [hybrid:cheap]",  # another spelling of the primary is still the primary
            "steps.rule_filtering.fallbacks[0]",
            "the primary model",
        ),
        (
            "fallbacks: [openai:capable, anthropic:cheap]",
            "fallbacks: [openai:capable, openai/gpt-4o]",
            "steps.generation.fallbacks[1]",
            "fallback cycle: 'openai/gpt-4o' resolves to openai/gpt-4o, an earlier entry",
        ),
        (
            "fallbacks: [openai:capable, anthropic:cheap]",
            "fallbacks: [openai:capable, openai/gpt-5]",
            "steps.generation.fallbacks[1]",
            "unknown model 'openai/gpt-5'",
        ),
        (
            "fallbacks: [openai:capable, anthropic:cheap]",
            "fallbacks: [openai:capable, openai]",
            "steps.generation.fallbacks[1]",
            "invalid model reference 'openai'",
        ),
        (
            "model: openai:cheap",
            "model: openai:cheap\n    tier: cheap",
            "steps.rule_filtering",
            "give either 'model' or 'tier'/'provider' hints, not both",
        ),
        (
            "model: openai:cheap",
            "model: openai:cheap\n    provider: openai",
            "steps.rule_filtering",
            "not both",
        ),
        (
            "task_type: context_extraction",
            "task_type: poetry",
            "steps.context_extraction.task_type",
            "unknown task type 'poetry'",
        ),
        ("default_provider: anthropic", "default_provider: azure", "default_provider", "unknown provider 'azure'"),
        ("default_provider: anthropic\n", "", "default_provider", "Field required"),
        (
            "    provider: openai\n    tier: capable",
            "    provider: azure",
            "steps.enforcement.provider",
            "unknown provider 'azure'",
        ),
        ("    tier: cheap\n", "    tier: gold\n", "steps.context_extraction.tier", "Input should be"),
        (
            "agent_id: support",
            "agent_id: helpdesk",
            "agent_id",
            "agent_id 'helpdesk' does not match the file name 'support'",
        ),
        (
            "max_tokens: 800",
            "max_tokens: 900000",
            "steps.generation.max_tokens",
            "max_tokens 900000 exceeds anthropic/claude-sonnet-5's max_output_tokens 64000",
        ),
        ("max_tokens: 800", "max_tokens: 0", "steps.generation.max_tokens", "greater than 0"),
        ("temperature: 0.4", "temperature: 7", "steps.generation.temperature", "less than or equal to 2"),
        ("timeout_seconds: 45", "timeout_seconds: -1", "steps.generation.timeout_seconds", "greater than 0"),
        ("fallbacks: [anthropic:cheap]", "fallbacks: anthropic:cheap", "steps.rule_filtering.fallbacks", "valid list"),
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
    matching = next(p for p in info.value.problems if p.key == key)
    assert str(matching).startswith(f"{support}: {key}: ")


@pytest.mark.parametrize(
    ("new", "key"),
    [
        ("    provider: local\n    tier: capable", "steps.enforcement.tier"),
        ("    provider: local", "steps.enforcement.provider"),
    ],
)
def test_a_provider_without_the_tier_is_named_at_the_hint_that_chose_it(
    tmp_path: Path, config_dir: Path, new: str, key: str
) -> None:
    configs = _dir(tmp_path, config_dir)
    _edit(configs / "models.yaml", "        also_tiers: [capable, premium]\n", "")  # local: cheap only
    support = configs / "agents" / "support.yaml"
    _edit(support, "    provider: openai\n    tier: capable", new)
    with pytest.raises(ConfigError) as info:
        AgentCatalogs.load(configs / "agents", ModelRegistry.load(configs / "models.yaml"))
    assert [str(p) for p in info.value.problems] == [
        f"{support}: {key}: provider 'local' has no model in tier 'capable'"
    ]


def test_max_tokens_is_checked_against_the_task_default_model_too(
    tmp_path: Path, config_dir: Path, registry: ModelRegistry
) -> None:
    configs = _dir(tmp_path, config_dir)
    support = configs / "agents" / "support.yaml"
    _edit(
        support,
        "task_type: scenario_navigation\n    temperature: 0.0",
        "task_type: scenario_navigation\n    max_tokens: 70000",
    )
    with pytest.raises(ConfigError) as info:
        AgentCatalogs.load(configs / "agents", registry)
    assert info.value.key == "steps.scenario_filtering.max_tokens"
    assert "anthropic/claude-haiku-4-5's max_output_tokens 64000" in str(info.value)


def test_every_problem_of_every_file_is_collected(tmp_path: Path, config_dir: Path, registry: ModelRegistry) -> None:
    configs = _dir(tmp_path, config_dir)
    _edit(configs / "agents" / "support.yaml", "model: openai:cheap", "model: openai:gold")
    _edit(configs / "agents" / "support.yaml", "fallbacks: [anthropic:cheap]", "fallbacks: [nope:cheap]")
    _edit(configs / "agents" / "research.yaml", "model: hybrid:cheap", "model: hybrid/gpt-4o-mini")
    (configs / "agents" / "broken.yaml").write_text("default_provider: [unclosed\n")
    for load in (
        lambda: AgentCatalogs.load(configs / "agents", registry),
        lambda: load_routing_config(configs),
    ):
        with pytest.raises(ConfigError) as info:
            load()
        keys = [(Path(p.path or "").name, p.key) for p in info.value.problems]
        assert keys == [  # files in name order, problems in step order
            ("broken.yaml", None),
            ("research.yaml", "steps.context_extraction.model"),
            ("support.yaml", "steps.rule_filtering.model"),
            ("support.yaml", "steps.rule_filtering.fallbacks[0]"),
        ]
        assert str(info.value).startswith("4 problems:\n  - ")
        assert "broken.yaml: invalid YAML at line 2" in str(info.value)
        assert "referenced by tier" in str(info.value.problems[1])


def test_catalog_that_is_not_a_mapping(tmp_path: Path, registry: ModelRegistry) -> None:
    (tmp_path / "listy.yaml").write_text("- default_provider: openai\n")
    with pytest.raises(ConfigError, match=r"listy\.yaml: expected a mapping at the top level"):
        AgentCatalogs.load(tmp_path, registry)


def test_yml_files_are_catalogs_too(tmp_path: Path, registry: ModelRegistry) -> None:
    (tmp_path / "sales.yml").write_text("default_provider: openai\n")
    (tmp_path / "notes.txt").write_text("not a catalog")
    assert AgentCatalogs.load(tmp_path, registry).agent_ids() == ["sales"]


def test_unknown_task_allowed_with_a_default_tier(tmp_path: Path, config_dir: Path, registry: ModelRegistry) -> None:
    configs = _dir(tmp_path, config_dir)
    _edit(configs / "agents" / "support.yaml", "task_type: scenario_navigation", "task_type: poetry")
    with pytest.raises(ConfigError, match=r"steps\.scenario_filtering\.task_type: unknown task type 'poetry'"):
        AgentCatalogs.load(configs / "agents", registry)
    catalogs = AgentCatalogs.load(configs / "agents", registry, default_tier=Tier.PREMIUM)
    # the unknown task keeps its name and runs on the default tier, not on the step's own task's tier
    cfg = catalogs.get("support").step("scenario_filtering")
    assert isinstance(cfg.task_type, CustomTask) and cfg.task_type == cfg.task_type.value == "poetry"
    assert cfg.is_custom_task and cfg.task_tier is Tier.PREMIUM


def test_unknown_task_error_names_file_key_and_the_setting(
    tmp_path: Path, config_dir: Path, registry: ModelRegistry
) -> None:
    configs = _dir(tmp_path, config_dir)
    _edit(configs / "agents" / "support.yaml", "task_type: scenario_navigation", "task_type: Poetry Slam")
    with pytest.raises(ConfigError) as info:
        AgentCatalogs.load(configs / "agents", registry)
    assert (info.value.path, info.value.key) == (
        str(configs / "agents" / "support.yaml"),
        "steps.scenario_filtering.task_type",
    )
    assert "unknown task type 'Poetry Slam'" in str(info.value) and "FOCAL_DEFAULT_TASK_TIER" in str(info.value)
    cfg = (
        AgentCatalogs.load(configs / "agents", registry, default_tier=Tier.CHEAP)
        .get("support")
        .step("scenario_filtering")
    )
    assert cfg.task_type.value == "poetry_slam" and cfg.task_tier is Tier.CHEAP  # normalized like known names


def test_missing_directory(tmp_path: Path, registry: ModelRegistry) -> None:
    with pytest.raises(ConfigError) as info:
        AgentCatalogs.load(tmp_path / "none", registry)
    assert str(info.value) == f"{tmp_path / 'none'}: agent catalog directory not found"


def test_empty_directory_has_no_agents(tmp_path: Path, registry: ModelRegistry) -> None:
    assert AgentCatalogs.load(tmp_path, registry).agent_ids() == []


def test_two_files_for_one_agent_are_refused(tmp_path: Path, config_dir: Path, registry: ModelRegistry) -> None:
    configs = _dir(tmp_path, config_dir)
    agents = configs / "agents"
    shutil.copy(agents / "support.yaml", agents / "support.yml")
    _edit(agents / "support.yml", "model: openai:cheap", "model: ollama:cheap")
    with pytest.raises(ConfigError) as info:
        AgentCatalogs.load(agents, registry)
    assert str(info.value) == f"{agents / 'support.yml'}: agent 'support' is also defined in {agents / 'support.yaml'}"


# --- duplicate keys: PyYAML would let the later one win silently -------------------------------


def test_a_step_given_twice_is_refused_with_its_line(tmp_path: Path, config_dir: Path, registry: ModelRegistry) -> None:
    configs = _dir(tmp_path, config_dir)
    support = configs / "agents" / "support.yaml"
    support.write_text(support.read_text() + "  generation:\n    model: openai:cheap\n")
    lines = support.read_text().splitlines()
    first, dup = [i + 1 for i, line in enumerate(lines) if line == "  generation:"]
    expected = f"{support}: steps.generation: duplicate key at line {dup} (first given at line {first})"
    for load in (
        lambda: AgentCatalogs.load(configs / "agents", registry),
        lambda: load_catalog(support, registry),
        lambda: load_routing_config(configs),
    ):
        with pytest.raises(ConfigError) as info:
            load()
        assert (info.value.path, info.value.key, str(info.value)) == (str(support), "steps.generation", expected)


def test_a_key_given_twice_inside_a_step_is_refused(tmp_path: Path, config_dir: Path, registry: ModelRegistry) -> None:
    configs = _dir(tmp_path, config_dir)
    support = configs / "agents" / "support.yaml"
    _edit(support, "    temperature: 0.4\n", "    temperature: 0.4\n    temperature: 0.9\n")
    with pytest.raises(ConfigError) as info:
        AgentCatalogs.load(configs / "agents", registry)
    assert info.value.key == "steps.generation.temperature"
    assert "duplicate key at line" in info.value.detail


def test_a_merge_key_may_still_be_overridden(tmp_path: Path, registry: ModelRegistry) -> None:
    # `<<` copies keys in; overriding one of them is what merges are for, not a duplicate
    (tmp_path / "sales.yaml").write_text(
        "default_provider: openai\n"
        "steps:\n"
        "  rule_filtering: &cheap\n"
        "    tier: cheap\n"
        "    temperature: 0.0\n"
        "  enforcement:\n"
        "    <<: *cheap\n"
        "    temperature: 0.2\n"
    )
    catalog = AgentCatalogs.load(tmp_path, registry).get("sales")
    assert catalog.step("enforcement").temperature == 0.2
    assert catalog.step("enforcement").model == registry.get("openai", "cheap")
    assert catalog.step("rule_filtering").temperature == 0.0


# --- fallback chains given as iterators --------------------------------------------------------


def test_step_config_keeps_a_generator_chain_whole(registry: ModelRegistry) -> None:
    models = [registry.get("openai", "cheap"), registry.get("anthropic", "cheap")]
    cfg = StepModelConfig(
        step=PipelineStep.GENERATION,
        task_type=TaskType.RESPONSE_GENERATION,
        declared=True,
        fallback_refs=(ref for ref in ["openai:cheap", "anthropic:cheap"]),  # type: ignore[arg-type]
        fallbacks=iter(models),  # type: ignore[arg-type]
    )
    for _ in range(2):  # read twice: a generator would be empty the second time
        assert cfg.fallback_refs == ("openai:cheap", "anthropic:cheap")
        assert cfg.fallbacks == tuple(models)
