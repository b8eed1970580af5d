"""The model registry: which models exist, what they cost, and how to reach their providers.

Model references have two forms, parsed only here:

- `provider:tier` — e.g. `anthropic:cheap`: the tier's default model on that provider
  (for the `hybrid` provider, the real model its tier points at);
- `provider/model-id` — e.g. `openai/gpt-4o-mini` or `ollama/llama3.2:3b`.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from decimal import Decimal
from enum import StrEnum
from pathlib import Path
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

from focal._yaml import parse_model, raise_problems, read_yaml
from focal.errors import ConfigError, NotFoundError
from focal.routing.tasks import Tier

__all__ = ["ModelInfo", "ModelRef", "ModelRegistry", "ProviderConnection", "ProviderKind", "parse_model_ref"]

_MILLION = Decimal(1_000_000)


class ProviderKind(StrEnum):
    """How a provider is reached (which SDK / Agno model class)."""

    ANTHROPIC = "anthropic"
    OPENAI = "openai"
    OLLAMA = "ollama"
    LOCAL = "local"  # llama.cpp's OpenAI-compatible server
    HYBRID = "hybrid"  # best-of: each tier points at another provider's model


_AUTH_TOKEN_ENV = {ProviderKind.ANTHROPIC: "ANTHROPIC_AUTH_TOKEN"}
"""Credentials a provider's SDK accepts instead of its API key."""


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelInfo:
    """One model: identity, tier, prices (USD per million tokens), limits and capabilities."""

    id: str
    provider: str
    tier: Tier
    input_cost_per_million: Decimal
    output_cost_per_million: Decimal
    cached_input_cost_per_million: Decimal | None = None
    cache_write_cost_per_million: Decimal | None = None
    """Price of input tokens written to the provider's prompt cache (Anthropic: 1.25x input); None: the input price."""
    context_window: int
    max_output_tokens: int
    supports_tools: bool = True
    supports_vision: bool = False
    supports_structured_output: bool = True
    ref: str = field(init=False, repr=False, compare=False)
    """The canonical reference, `provider/model-id`."""
    breaker_key: str = field(init=False, repr=False, compare=False)
    """`provider:tier`, the unit circuit breakers track."""

    def __post_init__(self) -> None:
        # derived once: both are read several times on every call
        object.__setattr__(self, "ref", f"{self.provider}/{self.id}")
        object.__setattr__(self, "breaker_key", f"{self.provider}:{Tier(self.tier).value}")


@dataclass(frozen=True, slots=True, kw_only=True)
class ProviderConnection:
    """How to reach a provider. `base_url()` applies environment overrides."""

    name: str
    kind: ProviderKind
    base_url_default: str | None = None
    base_url_env: tuple[str, ...] = ()
    api_key_env: str | None = None
    timeout_seconds: float = 60.0
    stream_usage: bool = True
    """OpenAI protocol: whether the server sends the usage chunk Agno asks for (`stream_options`). When it
    does, a stream is complete only once that chunk arrived; set False (`stream_usage: false`) for servers
    that ignore the option (older Azure api-versions, vLLM/TGI, some proxies): then the finish_reason
    chunk ends the stream."""

    @property
    def focal_base_url_env(self) -> str:
        """Focal's own override variable for this provider, e.g. `FOCAL_OPENAI_BASE_URL`."""
        return f"FOCAL_{self.name.upper().replace('-', '_')}_BASE_URL"

    def base_url(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The URL to use: `FOCAL_<NAME>_BASE_URL`, then the SDK's variables, then the file's value."""
        return self.base_url_from_env(environ) or self.base_url_default

    def base_url_from_env(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The URL an environment variable sets (`FOCAL_<NAME>_BASE_URL`, then the SDK's), if any."""
        env = os.environ if environ is None else environ
        for name in (self.focal_base_url_env, *self.base_url_env):
            value = env.get(name)
            if value:
                return value
        return None

    def missing_credentials(self, environ: Mapping[str, str] | None = None) -> str | None:
        """Why the environment does not let Focal reach this provider, or None when it does.

        A provider is reachable when its key variable is set (Anthropic: or its auth token), or when a base
        URL variable points it at a server explicitly; Ollama, which needs no key, only through its host
        variables (the file's URL is where Ollama usually listens, not proof that it runs). The local and
        hybrid providers need nothing.
        """
        env = os.environ if environ is None else environ
        if self.kind in (ProviderKind.LOCAL, ProviderKind.HYBRID):
            return None
        url_vars = (self.focal_base_url_env, *self.base_url_env)
        if self.base_url_from_env(env):
            return None
        if self.api_key_env:
            token = _AUTH_TOKEN_ENV.get(self.kind)
            if env.get(self.api_key_env) or (token and env.get(token)):
                return None
            return f"no {self.api_key_env} in the environment"
        if self.kind is ProviderKind.OLLAMA:
            return f"no {' or '.join(url_vars)} in the environment"
        return None

    def api_key(self, environ: Mapping[str, str] | None = None) -> str | None:
        """The API key from the configured environment variable, if any."""
        env = os.environ if environ is None else environ
        return env.get(self.api_key_env) if self.api_key_env else None


@dataclass(frozen=True, slots=True)
class ModelRef:
    """A parsed reference: either (provider, tier) or (provider, model_id)."""

    provider: str
    tier: Tier | None = None
    model_id: str | None = None

    def __str__(self) -> str:
        return f"{self.provider}:{self.tier.value}" if self.tier else f"{self.provider}/{self.model_id}"


def parse_model_ref(text: str) -> ModelRef:
    """Parse `provider:tier` or `provider/model-id` (syntax only; see `ModelRegistry.parse_ref`).

    Raises:
        ConfigError: the text has neither form.
    """
    ref = text.strip() if isinstance(text, str) else ""
    if "/" in ref:
        provider, _, model_id = ref.partition("/")
        if provider and model_id:
            return ModelRef(provider=provider, model_id=model_id)
    elif ":" in ref:
        provider, _, tier = ref.partition(":")
        if provider and tier in Tier._value2member_map_:
            return ModelRef(provider=provider, tier=Tier(tier))
        if provider and tier:
            tiers = ", ".join(t.value for t in Tier)
            raise ConfigError(f"invalid model reference {text!r}: tier {tier!r} is not one of {tiers}")
    raise ConfigError(
        f"invalid model reference {text!r}: expected 'provider:tier' (e.g. anthropic:cheap) "
        "or 'provider/model-id' (e.g. openai/gpt-4o-mini)"
    )


# --- file schema -------------------------------------------------------------------------------

MAX_PRICE_PER_MILLION = Decimal(100_000)
"""The highest price accepted, in USD per million tokens ($0.10 a token, far above any real model):
a typo such as `1e400` is refused at load instead of printing `Infinity` in every cost."""

NonNegativePrice = Annotated[Decimal, Field(ge=0, le=MAX_PRICE_PER_MILLION, allow_inf_nan=False)]


class _ModelEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1)
    tier: Tier
    also_tiers: list[Tier] = Field(
        default_factory=list,
        description="Other tiers this model serves, as if listed there too (the embedded local model serves every "
        "tier); the first model listed in a tier stays its default.",
    )
    input_cost_per_million: NonNegativePrice
    output_cost_per_million: NonNegativePrice
    cached_input_cost_per_million: NonNegativePrice | None = None
    cache_write_cost_per_million: NonNegativePrice | None = None
    context_window: int = Field(gt=0)
    max_output_tokens: int = Field(gt=0)
    supports_tools: bool = True
    supports_vision: bool = False
    supports_structured_output: bool = True

    @model_validator(mode="after")
    def _output_fits_window(self) -> _ModelEntry:
        if self.max_output_tokens > self.context_window:
            raise ValueError("max_output_tokens is larger than context_window")
        if self.tier in self.also_tiers or len(set(self.also_tiers)) != len(self.also_tiers):
            raise ValueError("also_tiers repeats a tier")
        return self


class _ProviderEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    kind: ProviderKind | None = None
    base_url: str | None = None
    base_url_env: list[str] = Field(default_factory=list)
    api_key_env: str | None = None
    timeout_seconds: float = Field(default=60.0, gt=0)
    stream_usage: bool | None = Field(
        default=None,
        description="OpenAI protocol: the server sends a streamed usage chunk (default: openai yes, local no)",
    )
    models: list[_ModelEntry] = Field(default_factory=list)
    tiers: dict[Tier, str] = Field(default_factory=dict, description="hybrid only: tier -> model ref")


class _RegistryFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    prices_as_of: dt.date
    currency: str = "USD"
    providers: dict[str, _ProviderEntry]


@dataclass(slots=True)
class ModelRegistry:
    """Every known model, its provider's connection settings, and reference parsing."""

    prices_as_of: dt.date
    source: Path | None = None
    _connections: dict[str, ProviderConnection] = field(default_factory=dict)
    _by_ref: dict[str, ModelInfo] = field(default_factory=dict)
    _tier_default: dict[tuple[str, Tier], ModelInfo] = field(default_factory=dict)
    _by_id: dict[str, list[ModelInfo]] = field(default_factory=dict)
    _parsed: dict[str, ModelInfo] = field(default_factory=dict)
    _file_urls: dict[str, str | None] = field(default_factory=dict)

    # --- loading ---------------------------------------------------------------------------

    @classmethod
    def load(cls, path: Path | str) -> ModelRegistry:
        """Load and validate `models.yaml`.

        Raises:
            ConfigError: naming the file and key path of every problem.
        """
        path = Path(path)
        spec = parse_model(_RegistryFile, read_yaml(path), path)
        registry = cls(prices_as_of=spec.prices_as_of, source=path)
        problems: list[ConfigError] = []
        hybrids: list[tuple[str, _ProviderEntry]] = []
        for name, entry in spec.providers.items():
            kind = entry.kind or _kind_from_name(name, path, problems)
            if kind is None:
                continue
            registry._connections[name] = ProviderConnection(
                name=name,
                kind=kind,
                base_url_default=entry.base_url,
                base_url_env=tuple(entry.base_url_env),
                api_key_env=entry.api_key_env,
                timeout_seconds=entry.timeout_seconds,
                stream_usage=entry.stream_usage if entry.stream_usage is not None else kind is not ProviderKind.LOCAL,
            )
            if kind is ProviderKind.HYBRID:
                if entry.models:
                    problems.append(
                        ConfigError(
                            "a hybrid provider lists tiers, not models", path=path, key=f"providers.{name}.models"
                        )
                    )
                hybrids.append((name, entry))
                continue
            if entry.tiers:
                problems.append(
                    ConfigError("only a hybrid provider may map tiers", path=path, key=f"providers.{name}.tiers")
                )
            for i, m in enumerate(entry.models):
                info = ModelInfo(provider=name, **m.model_dump(exclude={"also_tiers"}))
                if info.ref in registry._by_ref:
                    problems.append(
                        ConfigError(f"duplicate model id {m.id!r}", path=path, key=f"providers.{name}.models[{i}].id")
                    )
                    continue
                registry._add(info)
                for tier in m.also_tiers:  # the same model, as that tier's (`local:capable`)
                    registry._tier_default.setdefault((name, tier), replace(info, tier=tier))
        for name, entry in hybrids:
            for tier, ref in entry.tiers.items():
                key = f"providers.{name}.tiers.{tier.value}"
                try:
                    # checked on the reference itself: a resolved target is always a real model, and
                    # whether another hybrid's tiers are filled in yet depends on file order
                    if registry.connection(parse_model_ref(ref).provider).kind is ProviderKind.HYBRID:
                        problems.append(ConfigError("a hybrid tier must point at a real provider", path=path, key=key))
                        continue
                    target = registry.parse_ref(ref)
                except (ConfigError, NotFoundError) as exc:
                    problems.append(ConfigError(_detail(exc), path=path, key=key))
                    continue
                registry._tier_default[(name, tier)] = target
        raise_problems(problems)
        registry._parsed.clear()
        return registry

    def _add(self, info: ModelInfo) -> None:
        self._by_ref[info.ref] = info
        self._by_id.setdefault(info.id, []).append(info)
        self._tier_default.setdefault((info.provider, info.tier), info)  # first listed wins

    # --- lookups ---------------------------------------------------------------------------

    def providers(self) -> list[str]:
        """Provider names, in file order."""
        return list(self._connections)

    def tiers(self) -> list[Tier]:
        """All tiers, cheapest first."""
        return list(Tier)

    def connection(self, provider: str) -> ProviderConnection:
        """Connection settings of a provider.

        Raises:
            NotFoundError: unknown provider.
        """
        try:
            return self._connections[provider]
        except KeyError:
            raise NotFoundError(f"unknown provider {provider!r} (providers: {', '.join(self._connections)})") from None

    def point_at(self, provider: str, base_url: str | None) -> None:
        """Aim a provider at a server found at run time (the local model server `Focal` starts); None: back
        to the file's URL. Environment variables still win (`ProviderConnection.base_url`).

        Raises:
            NotFoundError: unknown provider.
        """
        connection = self.connection(provider)
        original = self._file_urls.setdefault(provider, connection.base_url_default)
        url = original if base_url is None else base_url
        self._connections[provider] = replace(connection, base_url_default=url)

    def models(self, provider: str | None = None) -> list[ModelInfo]:
        """Every model (of one provider if given), in file order."""
        if provider is not None:
            self.connection(provider)
            if self._connections[provider].kind is ProviderKind.HYBRID:
                return [self._tier_default[(provider, t)] for t in Tier if (provider, t) in self._tier_default]
            return [m for m in self._by_ref.values() if m.provider == provider]
        return list(self._by_ref.values())

    def has(self, provider: str, tier: Tier | str) -> bool:
        """Whether `provider:tier` names a model; False (never an error) for an unknown provider or tier.

        Args:
            provider: a provider name.
            tier: a `Tier` or a tier name (`"cheap"`); any other name is simply not there.
        """
        try:
            return (provider, Tier(tier)) in self._tier_default
        except ValueError:
            return False

    def get(self, provider: str, tier: Tier | str) -> ModelInfo:
        """The default model of a tier on a provider.

        Raises:
            NotFoundError: unknown provider, or the provider has no model in that tier.
        """
        try:
            return self._tier_default[(provider, Tier(tier))]
        except (KeyError, ValueError):
            self.connection(provider)
            raise NotFoundError(f"provider {provider!r} has no model in tier {str(tier)!r}") from None

    def by_id(self, model_id: str) -> ModelInfo:
        """A model by its id (`gpt-4o-mini`) or canonical ref (`openai/gpt-4o-mini`).

        Raises:
            NotFoundError: no such model, or the bare id exists on several providers.
        """
        if model_id in self._by_ref:
            return self._by_ref[model_id]
        found = self._by_id.get(model_id, [])
        if len(found) == 1:
            return found[0]
        if found:
            refs = ", ".join(m.ref for m in found)
            raise NotFoundError(f"model id {model_id!r} is ambiguous: {refs}")
        raise NotFoundError(f"unknown model {model_id!r}")

    def parse_ref(self, ref: str) -> ModelInfo:
        """Resolve `provider:tier` or `provider/model-id` to a model.

        Raises:
            ConfigError: malformed reference.
            NotFoundError: well-formed, but the provider, tier or model does not exist.
        """
        cached = self._parsed.get(ref)
        if cached is not None:
            return cached
        parsed = parse_model_ref(ref)
        self.connection(parsed.provider)
        if parsed.tier is not None:
            info = self.get(parsed.provider, parsed.tier)
        else:
            info = self._by_ref.get(f"{parsed.provider}/{parsed.model_id}")
            if info is None:
                hybrid = self._connections[parsed.provider].kind is ProviderKind.HYBRID
                hint = " (a hybrid provider is referenced by tier, e.g. hybrid:cheap)" if hybrid else ""
                raise NotFoundError(f"unknown model {ref!r}{hint}")
        self._parsed[ref] = info
        return info

    # --- prices ----------------------------------------------------------------------------

    def estimate_cost(
        self,
        model: ModelInfo | str,
        input_tokens: int,
        output_tokens: int,
        cached_input_tokens: int = 0,
        cache_write_tokens: int = 0,
    ) -> Decimal:
        """Cost in USD. `input_tokens` includes the cached (read) and cache-write tokens: cached ones are
        billed at the cached price, cache writes at the cache-write price, the rest at the input price.

        Raises:
            ValueError: negative token counts, or more cached + cache-write than total input tokens.
        """
        info = self.parse_ref(model) if isinstance(model, str) else model
        if min(input_tokens, output_tokens, cached_input_tokens, cache_write_tokens) < 0:
            raise ValueError("token counts must not be negative")
        if cached_input_tokens + cache_write_tokens > input_tokens:
            raise ValueError("cached_input_tokens + cache_write_tokens cannot exceed input_tokens")
        cached_price = info.cached_input_cost_per_million
        if cached_price is None:
            cached_price = info.input_cost_per_million
        total = (
            (input_tokens - cached_input_tokens - cache_write_tokens) * info.input_cost_per_million
            + cached_input_tokens * cached_price
            + output_tokens * info.output_cost_per_million
        )
        if cache_write_tokens:
            write_price = info.cache_write_cost_per_million
            total += cache_write_tokens * (info.input_cost_per_million if write_price is None else write_price)
        return total / _MILLION


def _kind_from_name(name: str, path: Path, problems: list[ConfigError]) -> ProviderKind | None:
    try:
        return ProviderKind(name)
    except ValueError:
        kinds = ", ".join(k.value for k in ProviderKind)
        problems.append(
            ConfigError(f"provider {name!r} needs a 'kind' (one of: {kinds})", path=path, key=f"providers.{name}")
        )
        return None


def _detail(exc: Exception) -> str:
    return exc.detail if isinstance(exc, ConfigError) else str(exc)
