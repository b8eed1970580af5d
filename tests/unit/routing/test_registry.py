"""The model registry: lookups, references, prices, connections, and bad files."""

from __future__ import annotations

import dataclasses
import pickle
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from focal import ConfigError, NotFoundError
from focal.routing import ModelInfo, ModelRef, ModelRegistry, ProviderConnection, ProviderKind, Tier, parse_model_ref

# --- the shipped file --------------------------------------------------------------------------


def test_lookups(registry: ModelRegistry, config_dir: Path) -> None:
    assert registry.source == config_dir / "models.yaml"
    assert registry.providers() == ["anthropic", "openai", "ollama", "local", "hybrid"]
    assert registry.tiers() == [Tier.CHEAP, Tier.CAPABLE, Tier.PREMIUM]
    assert registry.prices_as_of.isoformat() == "2026-11-01"
    haiku = registry.get("anthropic", "cheap")
    assert haiku == ModelInfo(
        id="claude-haiku-4-5",
        provider="anthropic",
        tier=Tier.CHEAP,
        input_cost_per_million=Decimal("1.00"),
        output_cost_per_million=Decimal("5.00"),
        cached_input_cost_per_million=Decimal("0.10"),
        cache_write_cost_per_million=Decimal("1.25"),
        context_window=200_000,
        max_output_tokens=64_000,
        supports_tools=True,
        supports_vision=True,
        supports_structured_output=True,
    )
    assert (haiku.ref, haiku.breaker_key) == ("anthropic/claude-haiku-4-5", "anthropic:cheap")
    assert registry.get("anthropic", Tier.CAPABLE).id == "claude-sonnet-5"
    assert registry.get("anthropic", "premium").id == "claude-opus-4-8"
    assert registry.get("openai", "cheap").id == "gpt-4o-mini"  # first listed in the tier is the default
    assert registry.get("openai", "capable").id == "gpt-4o"
    assert registry.get("openai", "premium").id == "o1"
    assert [m.id for m in registry.models("ollama")] == ["llama3.2:3b", "llama3.1:8b", "llama3.1:70b"]
    assert registry.get("ollama", "cheap").cached_input_cost_per_million is None  # omitted in the file
    assert registry.get("ollama", "cheap").supports_vision is False  # the default
    assert [m.id for m in registry.models("local")] == ["smollm2-135m-instruct"]
    assert len(registry.models()) == 12  # hybrid adds no models of its own


def test_one_model_may_serve_several_tiers(registry: ModelRegistry) -> None:
    cheap, capable, premium = (registry.get("local", t) for t in Tier)
    assert cheap.id == capable.id == premium.id == "smollm2-135m-instruct"
    assert (cheap.tier, capable.tier, premium.tier) == (Tier.CHEAP, Tier.CAPABLE, Tier.PREMIUM)
    assert capable.ref == cheap.ref == "local/smollm2-135m-instruct"
    assert capable.breaker_key == "local:capable"
    assert registry.parse_ref("local/smollm2-135m-instruct") is cheap  # by id: its own tier
    assert registry.models("local") == [cheap]


@pytest.fixture
def cheap_only_local(tmp_path: Path, config_dir: Path) -> ModelRegistry:
    """The shipped registry with a `local` model in the cheap tier only."""
    return ModelRegistry.load(_broken(tmp_path, config_dir, "        also_tiers: [capable, premium]\n", ""))


def test_hybrid_tiers_point_at_real_models(registry: ModelRegistry) -> None:
    assert [m.ref for m in registry.models("hybrid")] == [
        "openai/gpt-4o-mini",
        "anthropic/claude-sonnet-5",
        "anthropic/claude-opus-4-8",
    ]
    assert registry.get("hybrid", "cheap") is registry.get("openai", "cheap")
    assert registry.connection("hybrid").kind is ProviderKind.HYBRID


def test_has(registry: ModelRegistry) -> None:
    assert registry.has("openai", "premium") and registry.has("hybrid", Tier.CAPABLE)
    assert registry.has("local", "premium")
    assert not registry.has("azure", "cheap")


def test_has_no_model_in_a_tier(cheap_only_local: ModelRegistry) -> None:
    assert cheap_only_local.has("local", "cheap") and not cheap_only_local.has("local", "capable")
    with pytest.raises(NotFoundError, match="provider 'local' has no model in tier 'capable'"):
        cheap_only_local.get("local", "capable")
    with pytest.raises(NotFoundError, match="provider 'local' has no model in tier 'premium'"):
        cheap_only_local.parse_ref("local:premium")


def test_get_unknown(registry: ModelRegistry) -> None:
    with pytest.raises(NotFoundError, match=r"unknown provider 'azure' \(providers: anthropic, openai, ollama"):
        registry.get("azure", "cheap")
    with pytest.raises(NotFoundError, match="provider 'openai' has no model in tier 'gold'"):
        registry.get("openai", "gold")
    with pytest.raises(NotFoundError, match="unknown provider 'azure'"):
        registry.models("azure")


def test_by_id(registry: ModelRegistry) -> None:
    assert registry.by_id("gpt-4.1-mini").tier is Tier.CHEAP
    assert registry.by_id("gpt-4.1-mini") is registry.parse_ref("openai/gpt-4.1-mini")
    assert registry.by_id("openai/gpt-4o") is registry.get("openai", "capable")
    assert registry.by_id("llama3.2:3b").provider == "ollama"
    with pytest.raises(NotFoundError, match="unknown model 'gpt-9'"):
        registry.by_id("gpt-9")
    with pytest.raises(NotFoundError, match="unknown model 'anthropic/gpt-4o'"):
        registry.by_id("anthropic/gpt-4o")


def test_by_id_ambiguous_between_providers(tmp_path: Path, config_dir: Path) -> None:
    path = _broken(
        tmp_path,
        config_dir,
        "  # Best-of:",
        "  azure:\n    kind: openai\n    models:\n      - id: gpt-4o\n        tier: capable\n"
        "        input_cost_per_million: 2.5\n        output_cost_per_million: 10\n"
        "        context_window: 128000\n        max_output_tokens: 16384\n  # Best-of:",
    )
    registry = ModelRegistry.load(path)
    assert registry.connection("azure").kind is ProviderKind.OPENAI  # an unknown name with a kind is fine
    with pytest.raises(NotFoundError, match="model id 'gpt-4o' is ambiguous: openai/gpt-4o, azure/gpt-4o"):
        registry.by_id("gpt-4o")
    assert registry.by_id("azure/gpt-4o").provider == "azure"


# --- references --------------------------------------------------------------------------------


def test_parse_model_ref_syntax() -> None:
    assert parse_model_ref("anthropic:cheap") == ModelRef(provider="anthropic", tier=Tier.CHEAP)
    assert parse_model_ref("openai/gpt-4o-mini") == ModelRef(provider="openai", model_id="gpt-4o-mini")
    assert parse_model_ref("ollama/llama3.2:3b") == ModelRef(provider="ollama", model_id="llama3.2:3b")
    assert parse_model_ref("  openai:premium ") == ModelRef(provider="openai", tier=Tier.PREMIUM)
    assert str(parse_model_ref("openai:premium")) == "openai:premium"
    assert str(parse_model_ref("ollama/llama3.2:3b")) == "ollama/llama3.2:3b"


def test_references(registry: ModelRegistry) -> None:
    assert registry.parse_ref("anthropic:cheap").id == "claude-haiku-4-5"
    hybrid = registry.parse_ref("hybrid:cheap")
    assert (hybrid.provider, hybrid.id) == ("openai", "gpt-4o-mini")  # hybrid points at a real provider
    assert hybrid is registry.get("openai", "cheap")
    assert registry.parse_ref("hybrid:premium").ref == "anthropic/claude-opus-4-8"
    llama = registry.parse_ref("ollama/llama3.2:3b")  # a colon inside the model id
    assert (llama.provider, llama.id, llama.tier) == ("ollama", "llama3.2:3b", Tier.CHEAP)
    assert registry.parse_ref("openai/gpt-4o").ref == "openai/gpt-4o"
    assert registry.parse_ref("openai/gpt-4.1-mini") is not registry.parse_ref("openai:cheap")
    assert registry.parse_ref("openai:cheap") is registry.parse_ref("openai:cheap")  # memoized


@pytest.mark.parametrize(
    ("ref", "error", "fragment"),
    [
        ("openai", ConfigError, "invalid model reference 'openai': expected 'provider:tier' (e.g. anthropic:cheap)"),
        ("", ConfigError, "invalid model reference '': expected 'provider:tier'"),
        ("openai/", ConfigError, "invalid model reference 'openai/'"),
        (":cheap", ConfigError, "invalid model reference ':cheap'"),
        ("openai:gold", ConfigError, "tier 'gold' is not one of cheap, capable, premium"),
        ("nope:cheap", NotFoundError, "unknown provider 'nope' (providers: anthropic, openai, ollama, local, hybrid)"),
        ("nope/some-model", NotFoundError, "unknown provider 'nope'"),
        ("openai/gpt-9", NotFoundError, "unknown model 'openai/gpt-9'"),
        ("hybrid/gpt-4o-mini", NotFoundError, "(a hybrid provider is referenced by tier, e.g. hybrid:cheap)"),
    ],
)
def test_bad_references(registry: ModelRegistry, ref: str, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error) as info:
        registry.parse_ref(ref)
    assert type(info.value) is error
    assert fragment in str(info.value)


def test_malformed_reference_is_a_config_error_before_any_lookup() -> None:
    with pytest.raises(ConfigError) as info:
        parse_model_ref("openai:gold")
    assert (info.value.path, info.value.key) == (None, None)


# --- prices ------------------------------------------------------------------------------------


def test_estimate_cost_exact(registry: ModelRegistry) -> None:
    # 10k in (5k cached) + 2k out on haiku: 5000*1.00 + 5000*0.10 + 2000*5.00 per million
    cost = registry.estimate_cost("anthropic:cheap", 10_000, 2_000, 5_000)
    assert isinstance(cost, Decimal) and cost == Decimal("0.0155")
    # gpt-4o-mini: 600*0.15 + 400*0.075 + 500*0.60 per million = 420 / 1e6
    assert registry.estimate_cost("openai/gpt-4o-mini", 1_000, 500, 400) == Decimal("0.00042")
    # no cached tokens: all input at the input price; the ModelInfo form gives the same result
    o1 = registry.get("openai", "premium")
    assert registry.estimate_cost(o1, 1_000_000, 1_000_000) == Decimal("75")
    assert registry.estimate_cost("openai:premium", 1_000_000, 1_000_000) == Decimal("75")
    assert registry.estimate_cost("ollama:capable", 10_000, 2_000) == 0
    assert registry.estimate_cost("anthropic:cheap", 0, 0) == 0
    # exact decimal arithmetic: one token of each never rounds to a float
    assert registry.estimate_cost("openai:cheap", 1, 1) == Decimal("0.00000075")
    # no cached price: cached tokens are billed as input
    sonnet = dataclasses.replace(registry.get("anthropic", "capable"), cached_input_cost_per_million=None)
    assert registry.estimate_cost(sonnet, 1_000_000, 0, 1_000_000) == Decimal(3)
    assert registry.estimate_cost(sonnet, 2_000, 0, 1_000) == registry.estimate_cost(sonnet, 2_000, 0)


def test_estimate_cost_prices_cache_writes(registry: ModelRegistry) -> None:
    # sonnet: 10k input = 6k plain + 3k cache reads + 1k cache writes; 2k output
    cost = registry.estimate_cost("anthropic:capable", 10_000, 2_000, 3_000, 1_000)
    assert cost == (6_000 * Decimal(3) + 3_000 * Decimal("0.30") + 1_000 * Decimal("3.75") + 2_000 * 15) / 1_000_000
    # a provider without a cache-write price bills the writes as plain input
    assert registry.estimate_cost("openai:cheap", 1_000, 0, 0, 400) == registry.estimate_cost("openai:cheap", 1_000, 0)
    with pytest.raises(ValueError, match="cannot exceed input_tokens"):
        registry.estimate_cost("anthropic:capable", 1_000, 0, 700, 400)


@pytest.mark.parametrize(
    ("tokens", "fragment"),
    [
        ((10, 5, 11), r"cached_input_tokens \+ cache_write_tokens cannot exceed input_tokens"),
        ((-1, 5, 0), "token counts must not be negative"),
        ((10, -5, 0), "token counts must not be negative"),
        ((10, 5, -1), "token counts must not be negative"),
    ],
)
def test_estimate_cost_rejects_impossible_counts(
    registry: ModelRegistry, tokens: tuple[int, int, int], fragment: str
) -> None:
    with pytest.raises(ValueError, match=fragment):
        registry.estimate_cost("anthropic:cheap", *tokens)


def test_estimate_cost_of_an_unknown_reference(registry: ModelRegistry) -> None:
    with pytest.raises(NotFoundError, match="unknown model 'openai/gpt-9'"):
        registry.estimate_cost("openai/gpt-9", 1, 1)


def test_model_info_is_frozen(registry: ModelRegistry) -> None:
    info = registry.get("openai", "cheap")
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.id = "x"  # type: ignore[misc]
    with pytest.raises(dataclasses.FrozenInstanceError):
        info.input_cost_per_million = Decimal(0)  # type: ignore[misc]
    assert registry.get("openai", "cheap").id == "gpt-4o-mini"
    assert hash(info) == hash(registry.parse_ref("openai/gpt-4o-mini"))  # usable as a dict key


# --- connections -------------------------------------------------------------------------------


def test_connections(registry: ModelRegistry) -> None:
    openai = registry.connection("openai")
    assert openai == ProviderConnection(
        name="openai",
        kind=ProviderKind.OPENAI,
        base_url_default=None,
        base_url_env=("OPENAI_BASE_URL",),
        api_key_env="OPENAI_API_KEY",
        timeout_seconds=60.0,
    )
    assert registry.connection("ollama").timeout_seconds == 120.0
    assert registry.connection("local").kind is ProviderKind.LOCAL
    assert registry.connection("local").focal_base_url_env == "FOCAL_LOCAL_BASE_URL"
    assert ProviderConnection(name="my-proxy", kind=ProviderKind.OPENAI).focal_base_url_env == "FOCAL_MY_PROXY_BASE_URL"
    with pytest.raises(NotFoundError, match="unknown provider 'azure'"):
        registry.connection("azure")


def test_base_url_precedence_with_an_explicit_environment(registry: ModelRegistry) -> None:
    openai = registry.connection("openai")
    assert openai.base_url({}) is None
    assert openai.base_url({"OPENAI_BASE_URL": "http://sdk"}) == "http://sdk"
    assert openai.base_url({"OPENAI_BASE_URL": "http://sdk", "FOCAL_OPENAI_BASE_URL": "http://focal"}) == "http://focal"
    assert openai.base_url({"OPENAI_BASE_URL": "", "FOCAL_OPENAI_BASE_URL": ""}) is None  # empty values are unset
    ollama = registry.connection("ollama")
    assert ollama.base_url({}) == "http://127.0.0.1:11434"
    assert ollama.base_url({"OLLAMA_HOST": "http://127.0.0.1:9"}) == "http://127.0.0.1:9"
    assert ollama.base_url({"OLLAMA_HOST": "http://sdk", "FOCAL_OLLAMA_BASE_URL": "http://focal"}) == "http://focal"
    anthropic = registry.connection("anthropic")
    assert anthropic.base_url({"ANTHROPIC_BASE_URL": "http://127.0.0.1:1"}) == "http://127.0.0.1:1"
    assert anthropic.base_url({"OPENAI_BASE_URL": "http://other"}) is None  # another provider's variable
    local = registry.connection("local")
    assert local.base_url({}) == "http://127.0.0.1:8080/v1"
    assert local.base_url({"LLAMA_CPP_BASE_URL": "http://l"}) == "http://l"


def test_base_url_precedence_from_the_process_environment(
    registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch
) -> None:
    ollama = registry.connection("ollama")
    assert ollama.base_url() == "http://127.0.0.1:11434"
    monkeypatch.setenv("OLLAMA_HOST", "http://127.0.0.1:2")
    assert ollama.base_url() == "http://127.0.0.1:2"
    monkeypatch.setenv("FOCAL_OLLAMA_BASE_URL", "http://127.0.0.1:3")
    assert ollama.base_url() == "http://127.0.0.1:3"
    assert ollama.base_url({}) == "http://127.0.0.1:11434"  # an explicit mapping ignores os.environ
    monkeypatch.setenv("ANTHROPIC_BASE_URL", "http://127.0.0.1:4")
    assert registry.connection("anthropic").base_url() == "http://127.0.0.1:4"


def test_api_key(registry: ModelRegistry, monkeypatch: pytest.MonkeyPatch) -> None:
    openai = registry.connection("openai")
    assert openai.api_key({"OPENAI_API_KEY": "k"}) == "k"
    assert openai.api_key({}) is None
    monkeypatch.setenv("OPENAI_API_KEY", "from-env")
    assert openai.api_key() == "from-env"
    assert registry.connection("ollama").api_key({"OLLAMA_API_KEY": "x"}) is None  # no api_key_env configured


# --- bad files ---------------------------------------------------------------------------------


def _broken(tmp_path: Path, config_dir: Path, old: str, new: str) -> Path:
    target = tmp_path / "models.yaml"
    shutil.copy(config_dir / "models.yaml", target)
    text = target.read_text()
    assert old in text, old
    target.write_text(text.replace(old, new, 1))
    return target


@pytest.mark.parametrize(
    ("old", "new", "key", "fragment"),
    [
        (
            "input_cost_per_million: 0.15",
            "input_cost_per_million: -1",
            "providers.openai.models[0].input_cost_per_million",
            "greater than or equal to 0",
        ),
        (
            "output_cost_per_million: 15.00",
            "output_cost_per_million: -0.01",
            "providers.anthropic.models[1].output_cost_per_million",
            "greater than or equal to 0",
        ),
        (
            "cached_input_cost_per_million: 0.075",
            "cached_input_cost_per_million: cheap",
            "providers.openai.models[0].cached_input_cost_per_million",
            "decimal",
        ),
        (
            "        supports_vision: true\n      - id: gpt-4.1-mini",
            "        colour: blue\n      - id: gpt-4.1-mini",
            "providers.openai.models[0].colour",
            "Extra inputs are not permitted",
        ),
        ("currency: USD\n", "currency: USD\nregion: eu\n", "region", "Extra inputs are not permitted"),
        (
            "    api_key_env: OPENAI_API_KEY\n",
            "    api_key_env: OPENAI_API_KEY\n    organisation: acme\n",
            "providers.openai.organisation",
            "Extra inputs are not permitted",
        ),
        (
            "- id: gpt-4.1-mini",
            "- id: gpt-4o-mini",
            "providers.openai.models[1].id",
            "duplicate model id 'gpt-4o-mini'",
        ),
        (
            "cheap: openai/gpt-4o-mini",
            "cheap: openai/gpt-9",
            "providers.hybrid.tiers.cheap",
            "unknown model 'openai/gpt-9'",
        ),
        ("cheap: openai/gpt-4o-mini", "cheap: openai:gold", "providers.hybrid.tiers.cheap", "tier 'gold'"),
        ("cheap: openai/gpt-4o-mini", "cheap: azure:cheap", "providers.hybrid.tiers.cheap", "unknown provider 'azure'"),
        (
            "        also_tiers: [capable, premium]\n",
            "        also_tiers: [capable, cheap]\n",
            "providers.local.models[0]",
            "also_tiers repeats a tier",
        ),
        (
            "cheap: openai/gpt-4o-mini",
            "cheap: hybrid:capable",
            "providers.hybrid.tiers.cheap",
            "a hybrid tier must point at a real provider",
        ),
        (
            "max_output_tokens: 16384",
            "max_output_tokens: 999999",
            "providers.openai.models[0]",
            "max_output_tokens is larger than context_window",
        ),
        ("context_window: 128000", "context_window: 0", "providers.openai.models[0].context_window", "greater than 0"),
        ("prices_as_of: 2026-11-01\n", "", "prices_as_of", "Field required"),
        ("prices_as_of: 2026-11-01\n", "prices_as_of: someday\n", "prices_as_of", "valid date"),
        ("  local:\n", "  mystery:\n", "providers.mystery", "provider 'mystery' needs a 'kind' (one of: anthropic"),
        ("  local:\n", "  mystery:\n    kind: azure\n", "providers.mystery.kind", "Input should be"),
        ("tier: cheap", "tier: bargain", "providers.anthropic.models[0].tier", "Input should be 'cheap'"),
        ("timeout_seconds: 120", "timeout_seconds: 0", "providers.ollama.timeout_seconds", "greater than 0"),
        (
            "    base_url_env: [LLAMA_CPP_BASE_URL]\n",
            "    base_url_env: [LLAMA_CPP_BASE_URL]\n    tiers:\n      cheap: openai:cheap\n",
            "providers.local.tiers",
            "only a hybrid provider may map tiers",
        ),
        (
            "  hybrid:\n    tiers:",
            "  hybrid:\n    models:\n      - id: x\n        tier: cheap\n        input_cost_per_million: 0\n"
            "        output_cost_per_million: 0\n        context_window: 10\n        max_output_tokens: 10\n    tiers:",
            "providers.hybrid.models",
            "a hybrid provider lists tiers, not models",
        ),
    ],
)
def test_bad_registry_files_name_file_and_key(
    tmp_path: Path, config_dir: Path, old: str, new: str, key: str, fragment: str
) -> None:
    path = _broken(tmp_path, config_dir, old, new)
    with pytest.raises(ConfigError) as info:
        ModelRegistry.load(path)
    problems = info.value.problems
    assert any(p.path == str(path) and p.key == key and fragment in str(p) for p in problems), [
        str(p) for p in problems
    ]
    # the message itself names the file and the key
    matching = next(p for p in problems if p.key == key)
    assert str(matching).startswith(f"{path}: {key}: ")


def test_a_hybrid_may_not_point_at_another_hybrid_whatever_the_file_order(tmp_path: Path, config_dir: Path) -> None:
    second = "  best:\n    kind: hybrid\n    tiers:\n      cheap: hybrid:cheap\n"
    after = _broken(
        tmp_path,
        config_dir,
        "      premium: anthropic/claude-opus-4-8\n",
        "      premium: anthropic/claude-opus-4-8\n" + second,
    )
    with pytest.raises(ConfigError) as info:
        ModelRegistry.load(after)
    assert (info.value.key, info.value.detail) == (
        "providers.best.tiers.cheap",
        "a hybrid tier must point at a real provider",
    )
    before = _broken(tmp_path, config_dir, "  # Best-of:", second + "  # Best-of:")
    with pytest.raises(ConfigError) as info:
        ModelRegistry.load(before)
    assert (info.value.key, info.value.detail) == (
        "providers.best.tiers.cheap",
        "a hybrid tier must point at a real provider",
    )


def test_several_problems_are_reported_together(tmp_path: Path, config_dir: Path) -> None:
    path = _broken(tmp_path, config_dir, "- id: gpt-4.1-mini", "- id: gpt-4o-mini")
    text = (
        path.read_text()
        .replace("  local:\n", "  mystery:\n")
        .replace("cheap: openai/gpt-4o-mini", "cheap: openai/gpt-9")
    )
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        ModelRegistry.load(path)
    assert [p.key for p in info.value.problems] == [
        "providers.openai.models[1].id",
        "providers.mystery",
        "providers.hybrid.tiers.cheap",
    ]
    assert str(info.value).startswith("3 problems:\n  - ")
    assert info.value.path == str(path)


def test_malformed_yaml_names_file_line_and_column(tmp_path: Path, config_dir: Path) -> None:
    path = _broken(tmp_path, config_dir, "  openai:\n", "\topenai:\n")
    line = path.read_text().splitlines().index("\topenai:") + 1
    with pytest.raises(ConfigError) as info:
        ModelRegistry.load(path)
    assert str(info.value) == (
        f"{path}: invalid YAML at line {line}, column 1: found character '\\t' that cannot start any token"
    )
    assert info.value.path == str(path) and info.value.key is None


def test_malformed_yaml_unclosed_bracket(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("prices_as_of: 2026-11-01\nproviders:\n  openai: {models: [\n")
    with pytest.raises(ConfigError, match=r"models.yaml: invalid YAML at line 4, column 1: .*stream end"):
        ModelRegistry.load(path)


def test_missing_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        ModelRegistry.load(tmp_path / "nope.yaml")
    assert str(info.value) == f"{tmp_path / 'nope.yaml'}: file not found"
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match=r"list\.yaml: expected a mapping at the top level, got list"):
        ModelRegistry.load(tmp_path / "list.yaml")
    (tmp_path / "empty.yaml").write_text("")
    with pytest.raises(ConfigError, match="expected a mapping at the top level, got NoneType"):
        ModelRegistry.load(tmp_path / "empty.yaml")


def test_load_accepts_a_string_path(config_dir: Path) -> None:
    registry = ModelRegistry.load(str(config_dir / "models.yaml"))
    assert registry.get("anthropic", "cheap").id == "claude-haiku-4-5"


def test_config_error_is_picklable_and_keeps_its_location() -> None:
    err = ConfigError("bad", path="x.yaml", key="a.b")
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == "x.yaml: a.b: bad" and (again.path, again.key, again.detail) == ("x.yaml", "a.b", "bad")
    assert str(ConfigError("bad", key="k")) == "k: bad" and str(ConfigError("bad")) == "bad"


# --- duplicate keys: PyYAML would let the later one win silently -------------------------------


@pytest.mark.parametrize(
    ("old", "new", "key", "first_text", "dup_text"),
    [
        (  # a provider listed twice
            "  # Best-of: each tier points at a real provider's model.\n",
            "  openai:\n    kind: ollama\n  # Best-of: each tier points at a real provider's model.\n",
            "providers.openai",
            "  openai:",
            "  openai:\n    kind: ollama",
        ),
        (  # a field given twice inside one model entry
            "      - id: claude-haiku-4-5\n        tier: cheap\n",
            "      - id: claude-haiku-4-5\n        tier: cheap\n        tier: premium\n",
            "providers.anthropic.models[0].tier",
            "        tier: cheap",
            "        tier: premium",
        ),
        (  # a hybrid tier mapped twice
            "      premium: anthropic/claude-opus-4-8\n",
            "      premium: anthropic/claude-opus-4-8\n      premium: openai/o1\n",
            "providers.hybrid.tiers.premium",
            "      premium: anthropic/claude-opus-4-8",
            "      premium: openai/o1",
        ),
    ],
)
def test_duplicate_keys_name_file_key_and_line(
    tmp_path: Path, config_dir: Path, old: str, new: str, key: str, first_text: str, dup_text: str
) -> None:
    path = _broken(tmp_path, config_dir, old, new)
    text = path.read_text()
    first = text[: text.index(first_text)].count("\n") + 1
    dup = text[: text.index(dup_text)].count("\n") + 1
    assert dup > first
    with pytest.raises(ConfigError) as info:
        ModelRegistry.load(path)
    assert (info.value.path, info.value.key) == (str(path), key)
    assert str(info.value) == f"{path}: {key}: duplicate key at line {dup} (first given at line {first})"


def test_every_duplicate_key_is_listed(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text(
        "prices_as_of: 2026-11-01\n"
        "providers:\n"
        "  openai:\n"
        "    models: []\n"
        "    timeout_seconds: 10\n"
        "    timeout_seconds: 20\n"
        "prices_as_of: 2027-01-01\n"
    )
    with pytest.raises(ConfigError) as info:
        ModelRegistry.load(path)
    assert [(p.key, p.detail) for p in info.value.problems] == [
        ("providers.openai.timeout_seconds", "duplicate key at line 6 (first given at line 5)"),
        ("prices_as_of", "duplicate key at line 7 (first given at line 1)"),
    ]
    assert all(p.path == str(path) for p in info.value.problems)


def test_has_an_unknown_tier_is_false_like_an_unknown_provider(registry: ModelRegistry) -> None:
    assert registry.has("openai", "gold") is False
    assert registry.has("azure", "gold") is False
    assert registry.has("openai", "Premium") is False  # tier names are exact, as in `provider:tier`
    with pytest.raises(NotFoundError, match="provider 'openai' has no model in tier 'gold'"):
        registry.get("openai", "gold")  # the lookup that must find something still says why it did not
