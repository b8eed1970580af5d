"""Catalog choices whose provider has no credentials: replaced by a fallback that has them, else by the
embedded local model, each a resolution with its own source and reason; tenant overrides are kept."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from focal.routing import AgentCatalogs, ModelRegistry, ModelResolver, PipelineStep, ResolutionSource
from tests.unit.routing.resolver_env import Env

NO_KEYS: dict[str, str] = {}
OPENAI_ONLY = {"OPENAI_API_KEY": "sk-test"}
BOTH = {"OPENAI_API_KEY": "sk-test", "ANTHROPIC_API_KEY": "sk-ant-test"}


def _resolver(
    env: Env,
    registry: ModelRegistry,
    catalogs: AgentCatalogs,
    environ: Mapping[str, str],
    embedded: str | None = "local",
) -> ModelResolver:
    return ModelResolver(
        registry, catalogs, env.repo, check_credentials=True, embedded_provider=embedded, environ=environ
    )


def test_missing_credentials_per_provider(registry: ModelRegistry) -> None:
    anthropic, openai, ollama = (registry.connection(p) for p in ("anthropic", "openai", "ollama"))
    assert anthropic.missing_credentials({}) == "no ANTHROPIC_API_KEY in the environment"
    assert anthropic.missing_credentials({"ANTHROPIC_API_KEY": "k"}) is None
    assert anthropic.missing_credentials({"ANTHROPIC_AUTH_TOKEN": "t"}) is None
    assert (
        anthropic.missing_credentials({"FOCAL_ANTHROPIC_BASE_URL": "http://127.0.0.1:9"}) is None
    )  # aimed at a server
    assert openai.missing_credentials({"ANTHROPIC_API_KEY": "k"}) == "no OPENAI_API_KEY in the environment"
    assert openai.missing_credentials({"OPENAI_API_KEY": ""}) == "no OPENAI_API_KEY in the environment"  # empty: unset
    assert ollama.missing_credentials({}) == "no FOCAL_OLLAMA_BASE_URL or OLLAMA_HOST in the environment"
    assert ollama.missing_credentials({"OLLAMA_HOST": "http://127.0.0.1:11434"}) is None
    assert registry.connection("local").missing_credentials({}) is None
    assert registry.connection("hybrid").missing_credentials({}) is None


def test_no_key_at_all_resolves_every_step_to_the_embedded_local_model(
    env: Env, registry: ModelRegistry, catalogs: AgentCatalogs
) -> None:
    resolver = _resolver(env, registry, catalogs, NO_KEYS)
    for agent in ("support", "research"):
        for res in resolver.resolve_all("acme", agent):
            assert res.model.provider == "local" and res.model.id == "smollm2-135m-instruct", res
            assert res.source is ResolutionSource.EMBEDDED_DEFAULT
            assert res.fallback_chain == []  # no other provider can be reached
    generation = resolver.resolve("acme", "support", "generation")
    assert generation.model.tier.value == "capable"  # the same tier
    assert generation.reason.startswith(
        "no ANTHROPIC_API_KEY in the environment: anthropic:capable -> local:capable "
        "(embedded default, local/smollm2-135m-instruct) instead of anthropic/claude-sonnet-5; agent catalog "
    )
    local_cap = registry.get("local", "capable").max_output_tokens
    assert local_cap < 800 and generation.max_tokens == local_cap  # the catalog's 800, cut to the model's cap
    enforcement = resolver.resolve("acme", "support", PipelineStep.ENFORCEMENT)
    assert "no OPENAI_API_KEY in the environment: openai:capable -> local:capable" in enforcement.reason


def test_a_key_for_one_provider_moves_the_others_steps_to_their_first_fallback_that_has_one(
    env: Env, registry: ModelRegistry, catalogs: AgentCatalogs
) -> None:
    resolver = _resolver(env, registry, catalogs, OPENAI_ONLY)
    generation = resolver.resolve("acme", "support", "generation")  # anthropic/claude-sonnet-5, [openai:capable, ...]
    assert (generation.model.ref, generation.source) == ("openai/gpt-4o", ResolutionSource.CREDENTIALED_FALLBACK)
    assert generation.reason.startswith(
        "no ANTHROPIC_API_KEY in the environment: anthropic/claude-sonnet-5 -> openai/gpt-4o, "
        "its first fallback with credentials; agent catalog"
    )
    assert generation.fallback_chain == []  # anthropic:cheap has no key either
    rule_filtering = resolver.resolve("acme", "support", "rule_filtering")  # openai:cheap: has its key
    assert (rule_filtering.model.ref, rule_filtering.source) == ("openai/gpt-4o-mini", ResolutionSource.AGENT_CATALOG)
    scenario = resolver.resolve("acme", "support", "scenario_filtering")  # task default on anthropic, default chain
    assert (scenario.model.ref, scenario.source) == ("openai/gpt-4o-mini", ResolutionSource.CREDENTIALED_FALLBACK)


def test_an_ollama_host_alone_moves_every_step_to_ollama(
    env: Env, registry: ModelRegistry, catalogs: AgentCatalogs
) -> None:
    resolver = _resolver(env, registry, catalogs, {"OLLAMA_HOST": "http://127.0.0.1:11434"})
    for res in resolver.resolve_all("acme", "support"):
        assert (res.model.provider, res.source) == ("ollama", ResolutionSource.CREDENTIALED_FALLBACK), res
        assert res.model.tier == registry.parse_ref(res.reason.split(" -> ")[0].split(": ")[1]).tier  # same tier
    generation = resolver.resolve("acme", "support", "generation")  # its chain [openai:capable, anthropic:cheap]
    assert generation.model.ref == "ollama/llama3.1:8b"
    assert "-> ollama/llama3.1:8b, the same tier on a provider with credentials; agent catalog" in generation.reason


@pytest.mark.parametrize(
    "environ", [BOTH, {"FOCAL_ANTHROPIC_BASE_URL": "http://a", "FOCAL_OPENAI_BASE_URL": "http://o"}]
)
def test_with_credentials_for_every_provider_nothing_changes(
    env: Env, registry: ModelRegistry, catalogs: AgentCatalogs, environ: dict[str, str]
) -> None:
    plain = ModelResolver(registry, catalogs, env.repo)
    checked = _resolver(env, registry, catalogs, environ)
    for agent in ("support", "research"):
        assert checked.resolve_all("acme", agent) == plain.resolve_all("acme", agent)


def test_a_tenant_override_keeps_its_provider_and_says_it_has_no_key(
    env: Env, registry: ModelRegistry, catalogs: AgentCatalogs
) -> None:
    env.repo.set("acme", "support", "generation", "anthropic:premium", changed_by="ops")
    res = _resolver(env, registry, catalogs, OPENAI_ONLY).resolve("acme", "support", "generation")
    assert (res.model.ref, res.source) == ("anthropic/claude-opus-4-8", ResolutionSource.TENANT_OVERRIDE)
    assert res.reason.endswith("(note: no ANTHROPIC_API_KEY in the environment: its calls will fail)")


def test_without_the_local_model_the_choice_stays_and_says_why_it_will_fail(
    env: Env, registry: ModelRegistry, catalogs: AgentCatalogs
) -> None:
    res = _resolver(env, registry, catalogs, NO_KEYS, embedded=None).resolve("acme", "support", "generation")
    assert (res.model.ref, res.source) == ("anthropic/claude-sonnet-5", ResolutionSource.AGENT_CATALOG)
    assert res.reason.endswith("(note: no ANTHROPIC_API_KEY in the environment: its calls will fail)")


def test_an_override_naming_the_local_model_needs_no_key(
    env: Env, registry: ModelRegistry, catalogs: AgentCatalogs
) -> None:
    env.repo.set("acme", "support", "*", "local:capable", changed_by="ops")
    res = _resolver(env, registry, catalogs, NO_KEYS).resolve("acme", "support", "generation")
    assert (res.model.ref, res.source) == ("local/smollm2-135m-instruct", ResolutionSource.TENANT_OVERRIDE)
    assert "note" not in res.reason


def test_a_step_on_the_local_model_gets_at_least_the_local_providers_timeout(
    env: Env, registry: ModelRegistry, catalogs: AgentCatalogs
) -> None:
    local_timeout = registry.connection("local").timeout_seconds
    on_local = _resolver(env, registry, catalogs, NO_KEYS).resolve("acme", "support", "context_extraction")
    assert on_local.timeout_seconds == local_timeout  # the catalog's 20 s was set for a cloud model
    on_cloud = _resolver(env, registry, catalogs, BOTH).resolve("acme", "support", "context_extraction")
    assert on_cloud.timeout_seconds == 20  # as the catalog says
