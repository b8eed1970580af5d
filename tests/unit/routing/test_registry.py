"""The model registry: lookups, references, prices, connections, and bad files."""

from __future__ import annotations

import dataclasses
import shutil
from decimal import Decimal
from pathlib import Path

import pytest

from focal import ConfigError, NotFoundError
from focal.routing import ModelRegistry, Tier, parse_model_ref


def test_lookups(registry: ModelRegistry) -> None:
    assert registry.providers() == ["anthropic", "openai", "ollama", "local", "hybrid"]
    assert registry.tiers() == [Tier.CHEAP, Tier.CAPABLE, Tier.PREMIUM]
    haiku = registry.get("anthropic", "cheap")
    assert (haiku.id, haiku.provider, haiku.tier) == ("claude-haiku-4-5", "anthropic", Tier.CHEAP)
    assert haiku.input_cost_per_million == Decimal("1.00") and haiku.cached_input_cost_per_million == Decimal("0.10")
    assert registry.get("openai", "cheap").id == "gpt-4o-mini"  # first listed in the tier is the default
    assert registry.by_id("gpt-4.1-mini").tier is Tier.CHEAP
    assert registry.by_id("openai/gpt-4o") is registry.get("openai", "capable")
    assert registry.prices_as_of.isoformat() == "2026-11-01"


def test_references(registry: ModelRegistry) -> None:
    assert registry.parse_ref("anthropic:cheap").id == "claude-haiku-4-5"
    hybrid = registry.parse_ref("hybrid:cheap")
    assert (hybrid.provider, hybrid.id) == ("openai", "gpt-4o-mini")  # hybrid points at a real provider
    assert registry.parse_ref("ollama/llama3.2:3b").provider == "ollama"  # a colon inside the model id
    assert registry.parse_ref("openai/gpt-4o").ref == "openai/gpt-4o"
    assert str(parse_model_ref("openai:premium")) == "openai:premium"


@pytest.mark.parametrize(
    ("ref", "error", "fragment"),
    [
        ("openai", ConfigError, "expected 'provider:tier'"),
        ("", ConfigError, "expected"),
        ("openai:gold", ConfigError, "tier 'gold'"),
        ("nope:cheap", NotFoundError, "unknown provider 'nope'"),
        ("openai/gpt-9", NotFoundError, "unknown model"),
        ("local:cheap", NotFoundError, "no model in tier"),
        ("hybrid/gpt-4o-mini", NotFoundError, "referenced by tier"),
    ],
)
def test_bad_references(registry: ModelRegistry, ref: str, error: type[Exception], fragment: str) -> None:
    with pytest.raises(error, match=fragment):
        registry.parse_ref(ref)


def test_unknown_lookups(registry: ModelRegistry) -> None:
    with pytest.raises(NotFoundError):
        registry.by_id("gpt-9")
    with pytest.raises(NotFoundError, match="unknown provider"):
        registry.get("azure", "cheap")


def test_estimate_cost_exact(registry: ModelRegistry) -> None:
    # 10k in (5k cached) + 2k out on haiku: 5000*1 + 5000*0.10 + 2000*5 per million
    assert registry.estimate_cost("anthropic:cheap", 10_000, 2_000, 5_000) == Decimal("0.0155")
    assert registry.estimate_cost("ollama:capable", 10_000, 2_000) == 0
    # no cached price: cached tokens are billed as input
    sonnet = dataclasses.replace(registry.get("anthropic", "capable"), cached_input_cost_per_million=None)
    assert registry.estimate_cost(sonnet, 1_000_000, 0, 1_000_000) == Decimal(3)
    with pytest.raises(ValueError):
        registry.estimate_cost("anthropic:cheap", 10, 5, 11)
    with pytest.raises(ValueError):
        registry.estimate_cost("anthropic:cheap", -1, 5)


def test_model_info_is_frozen(registry: ModelRegistry) -> None:
    with pytest.raises(dataclasses.FrozenInstanceError):
        registry.get("openai", "cheap").id = "x"  # type: ignore[misc]


def test_base_url_precedence(registry: ModelRegistry) -> None:
    openai = registry.connection("openai")
    assert openai.base_url({}) is None
    assert openai.base_url({"OPENAI_BASE_URL": "http://sdk"}) == "http://sdk"
    assert openai.base_url({"OPENAI_BASE_URL": "http://sdk", "FOCAL_OPENAI_BASE_URL": "http://focal"}) == "http://focal"
    ollama = registry.connection("ollama")
    assert ollama.base_url({}) == "http://127.0.0.1:11434"
    assert ollama.base_url({"OLLAMA_HOST": "http://127.0.0.1:9"}) == "http://127.0.0.1:9"
    assert (
        registry.connection("anthropic").base_url({"ANTHROPIC_BASE_URL": "http://127.0.0.1:1"}) == "http://127.0.0.1:1"
    )
    assert registry.connection("local").focal_base_url_env == "FOCAL_LOCAL_BASE_URL"
    assert openai.api_key({"OPENAI_API_KEY": "k"}) == "k"


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
            "greater than or equal",
        ),
        (
            "        supports_vision: true\n      - id: gpt-4.1-mini",
            "        colour: blue\n      - id: gpt-4.1-mini",
            "providers.openai.models[0].colour",
            "Extra inputs",
        ),
        ("- id: gpt-4.1-mini", "- id: gpt-4o-mini", "providers.openai.models[1].id", "duplicate model id"),
        ("cheap: openai/gpt-4o-mini", "cheap: openai/gpt-9", "providers.hybrid.tiers.cheap", "unknown model"),
        ("max_output_tokens: 16384", "max_output_tokens: 999999", "providers.openai.models[0]", "larger than"),
        ("prices_as_of: 2026-11-01\n", "", "prices_as_of", "Field required"),
        ("  local:\n", "  mystery:\n", "providers.mystery", "needs a 'kind'"),
        ("tier: cheap", "tier: bargain", "providers.anthropic.models[0].tier", "Input should be"),
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


def test_malformed_yaml_names_line(tmp_path: Path) -> None:
    path = tmp_path / "models.yaml"
    path.write_text("prices_as_of: 2026-11-01\nproviders:\n  openai: [unclosed\n")
    with pytest.raises(ConfigError, match=r"models.yaml: invalid YAML at line \d+"):
        ModelRegistry.load(path)


def test_missing_and_non_mapping_files(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        ModelRegistry.load(tmp_path / "nope.yaml")
    (tmp_path / "list.yaml").write_text("- a\n- b\n")
    with pytest.raises(ConfigError, match="expected a mapping"):
        ModelRegistry.load(tmp_path / "list.yaml")


def test_config_error_is_picklable() -> None:
    import pickle

    err = ConfigError("bad", path="x.yaml", key="a.b")
    again = pickle.loads(pickle.dumps(err))
    assert str(again) == "x.yaml: a.b: bad" and again.key == "a.b"
