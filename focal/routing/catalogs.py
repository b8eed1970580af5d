"""Per-agent model catalogs: `configs/agents/<agent_id>.yaml`.

Each file says, per pipeline step, which task the step performs and either an explicit model
reference or tier / provider hints, plus an optional fallback chain and call parameters.
Everything is checked against the registry at load time, so a bad reference never fails mid-turn.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from focal._yaml import read_yaml, validation_problems
from focal.errors import ConfigError, NotFoundError
from focal.routing._chains import resolve_chain
from focal.routing.registry import ModelInfo, ModelRegistry
from focal.routing.steps import STEP_DEFAULT_TASKS, PipelineStep, to_step
from focal.routing.tasks import TASK_TIER_MAP, CustomTask, TaskType, Tier, normalize_task_type, to_task_type

__all__ = ["AgentCatalog", "AgentCatalogs", "StepModelConfig"]


class _StepEntry(BaseModel):
    model_config = ConfigDict(extra="forbid")

    task_type: str | None = None
    model: str | None = None
    tier: Tier | None = None
    provider: str | None = None
    fallbacks: list[str] | None = None
    temperature: float | None = Field(default=None, ge=0, le=2)
    max_tokens: int | None = Field(default=None, gt=0)
    timeout_seconds: float | None = Field(default=None, gt=0)

    @model_validator(mode="after")
    def _model_or_hints(self) -> _StepEntry:
        if self.model and (self.tier or self.provider):
            raise ValueError("give either 'model' or 'tier'/'provider' hints, not both")
        return self


class _Steps(BaseModel):
    model_config = ConfigDict(extra="forbid")

    context_extraction: _StepEntry | None = None
    rule_filtering: _StepEntry | None = None
    scenario_filtering: _StepEntry | None = None
    generation: _StepEntry | None = None
    enforcement: _StepEntry | None = None


class _CatalogFile(BaseModel):
    model_config = ConfigDict(extra="forbid")

    agent_id: str | None = None
    description: str = ""
    default_provider: str
    steps: _Steps = Field(default_factory=_Steps)


@dataclass(frozen=True, slots=True, kw_only=True)
class StepModelConfig:
    """What an agent's catalog says about one step (defaults filled in for absent steps)."""

    step: PipelineStep
    task_type: TaskType | CustomTask
    """The step's task; a `CustomTask` when the file names an unknown task and a default tier routes it."""
    declared: bool
    """False when the file has no entry for the step (the task default applies)."""
    task_tier: Tier | None = None
    """The tier the task runs on: `TASK_TIER_MAP`'s, or the configured default tier for a `CustomTask`
    (filled in for a `TaskType` when not given)."""
    model_ref: str | None = None
    model: ModelInfo | None = None
    tier: Tier | None = None
    provider: str | None = None
    fallback_refs: tuple[str, ...] | None = None
    """None: not configured (default chain). Empty: explicitly no fallbacks."""
    fallbacks: tuple[ModelInfo, ...] | None = None
    temperature: float | None = None
    max_tokens: int | None = None
    timeout_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.task_tier is None:
            if not isinstance(self.task_type, TaskType):
                raise ValueError(f"custom task {self.task_type.value!r} needs a task_tier (the default tier)")
            object.__setattr__(self, "task_tier", TASK_TIER_MAP[self.task_type])
        # chains given as generators would be empty the second time a resolution reads them
        for name in ("fallback_refs", "fallbacks"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, tuple):
                object.__setattr__(self, name, tuple(value))

    @property
    def is_custom_task(self) -> bool:
        """Whether the task is unknown and runs on the configured default tier."""
        return not isinstance(self.task_type, TaskType)

    @property
    def has_model_choice(self) -> bool:
        """Whether the catalog picks the model (explicitly or by hints) rather than the task default."""
        return self.model is not None or self.tier is not None or self.provider is not None


@dataclass(frozen=True, slots=True, kw_only=True)
class AgentCatalog:
    """One agent's catalog."""

    agent_id: str
    description: str
    default_provider: str
    source: Path
    steps: dict[PipelineStep, StepModelConfig]

    def step(self, step: str | PipelineStep) -> StepModelConfig:
        """The configuration of a step.

        Raises:
            NotFoundError: unknown step name.
        """
        return self.steps[to_step(step)]


class AgentCatalogs:
    """All agent catalogs of a config directory, validated against a registry."""

    def __init__(self, catalogs: dict[str, AgentCatalog]) -> None:
        self._catalogs = catalogs

    @classmethod
    def load(cls, directory: Path | str, registry: ModelRegistry, *, default_tier: Tier | None = None) -> AgentCatalogs:
        """Load every `*.yaml` in `directory`.

        Raises:
            ConfigError: listing every problem in every file, each with file and key.
        """
        directory = Path(directory)
        if not directory.is_dir():
            raise ConfigError("agent catalog directory not found", path=directory)
        collected = CatalogSet(registry, default_tier=default_tier)
        for path in sorted(directory.glob("*.y*ml")):
            collected.add(path)
        if collected.problems:
            raise ConfigError.from_problems(collected.problems)
        return cls(collected.catalogs)

    def agent_ids(self) -> list[str]:
        """Known agents, sorted."""
        return sorted(self._catalogs)

    def get(self, agent_id: str) -> AgentCatalog:
        """The catalog of an agent.

        Raises:
            NotFoundError: no catalog for this agent.
        """
        try:
            return self._catalogs[agent_id]
        except KeyError:
            known = ", ".join(self.agent_ids()) or "none"
            raise NotFoundError(f"unknown agent {agent_id!r} (agents: {known})") from None

    def __contains__(self, agent_id: object) -> bool:
        return agent_id in self._catalogs


class CatalogSet:
    """Catalog files loaded one by one into one set of agents, with every problem collected.

    What `AgentCatalogs.load` and `validate_paths` share: each file is validated, and a second file
    for an agent already loaded (`support.yaml` and `support.yml`) is a problem, never a silent winner.
    """

    def __init__(self, registry: ModelRegistry, *, default_tier: Tier | None = None) -> None:
        self.registry = registry
        self.default_tier = default_tier
        self.catalogs: dict[str, AgentCatalog] = {}
        self.problems: list[ConfigError] = []
        self._seen: set[Path] = set()

    def add(self, path: Path) -> None:
        """Load one file (a file already added is skipped); problems are collected, never raised."""
        resolved = path.resolve()
        if resolved in self._seen:
            return
        self._seen.add(resolved)
        try:
            catalog = load_catalog(path, self.registry, default_tier=self.default_tier)
        except ConfigError as exc:
            self.problems.extend(exc.problems)
            return
        if catalog.agent_id in self.catalogs:
            other = self.catalogs[catalog.agent_id].source
            self.problems.append(ConfigError(f"agent {catalog.agent_id!r} is also defined in {other}", path=path))
            return
        self.catalogs[catalog.agent_id] = catalog


def load_catalog(path: Path, registry: ModelRegistry, *, default_tier: Tier | None = None) -> AgentCatalog:
    """Load and validate one catalog file.

    Raises:
        ConfigError: every problem found, each naming the file and key.
    """
    data = read_yaml(path)
    if not isinstance(data, dict):
        raise ConfigError("expected a mapping at the top level", path=path)
    try:
        spec = _CatalogFile.model_validate(data)
    except ValidationError as exc:
        raise ConfigError.from_problems(validation_problems(exc, path)) from None
    problems: list[ConfigError] = []
    agent_id = spec.agent_id or path.stem
    if spec.agent_id and spec.agent_id != path.stem:
        problems.append(
            ConfigError(
                f"agent_id {spec.agent_id!r} does not match the file name {path.stem!r}", path=path, key="agent_id"
            )
        )
    default_provider: str | None = spec.default_provider
    try:
        registry.connection(spec.default_provider)
    except NotFoundError as exc:
        # reported, and every check that does not need the default provider still runs
        problems.append(ConfigError(str(exc), path=path, key="default_provider"))
        default_provider = None

    steps: dict[PipelineStep, StepModelConfig] = {}
    for step in PipelineStep:
        entry: _StepEntry | None = getattr(spec.steps, step.value)
        key = f"steps.{step.value}"
        config = _step_config(step, entry, default_provider, registry, path, key, problems, default_tier)
        if config is not None:
            steps[step] = config
    if problems:
        raise ConfigError.from_problems(problems)
    return AgentCatalog(
        agent_id=agent_id,
        description=spec.description,
        default_provider=spec.default_provider,
        source=path,
        steps=steps,
    )


def _step_config(
    step: PipelineStep,
    entry: _StepEntry | None,
    default_provider: str | None,
    registry: ModelRegistry,
    path: Path,
    key: str,
    problems: list[ConfigError],
    default_tier: Tier | None,
) -> StepModelConfig | None:
    """One step's configuration; None when it has problems (appended to `problems`).

    `default_provider` is None when the file's own is unknown (already reported): steps that rely
    on it are then not checked further.
    """
    entry = entry or _StepEntry()
    before = len(problems)

    task: TaskType | CustomTask = STEP_DEFAULT_TASKS[step]
    task_tier: Tier | None = None
    if entry.task_type is not None:
        try:
            task = to_task_type(entry.task_type)
        except NotFoundError as exc:
            if default_tier is None:
                problems.append(
                    ConfigError(
                        f"{exc} (set FOCAL_DEFAULT_TASK_TIER to route unknown task types on a default tier)",
                        path=path,
                        key=f"{key}.task_type",
                    )
                )
            else:  # the task keeps its own name and runs on the configured default tier
                task, task_tier = CustomTask(normalize_task_type(entry.task_type)), default_tier
    tier_of_task = task_tier if task_tier is not None else TASK_TIER_MAP[TaskType(task)]

    model: ModelInfo | None = None
    if entry.model is not None:
        model = _ref(entry.model, registry, path, f"{key}.model", problems)
    else:
        provider = entry.provider or default_provider
        tier = entry.tier or tier_of_task
        if entry.provider is not None and _provider_missing(entry.provider, registry, path, key, problems):
            pass
        elif provider is None:
            pass  # the unknown default_provider is reported once, for the file
        elif not registry.has(provider, tier):
            where = f"{key}.tier" if entry.tier else (f"{key}.provider" if entry.provider else key)
            problems.append(
                ConfigError(f"provider {provider!r} has no model in tier {tier.value!r}", path=path, key=where)
            )
        else:
            model = registry.get(provider, tier)

    fallbacks: list[ModelInfo] | None = None
    if entry.fallbacks is not None:
        fallbacks, chain_problems = resolve_chain(registry, model, entry.fallbacks)
        problems.extend(ConfigError(msg, path=path, key=f"{key}.fallbacks[{i}]") for i, msg in chain_problems)

    if entry.max_tokens is not None and model is not None and entry.max_tokens > model.max_output_tokens:
        problems.append(
            ConfigError(
                f"max_tokens {entry.max_tokens} exceeds {model.ref}'s max_output_tokens {model.max_output_tokens}",
                path=path,
                key=f"{key}.max_tokens",
            )
        )

    if len(problems) > before:
        return None
    return StepModelConfig(
        step=step,
        task_type=task,
        task_tier=task_tier,
        declared=entry is not None and entry.model_fields_set != set(),
        model_ref=entry.model,
        model=model if (entry.model or entry.tier or entry.provider) else None,
        tier=entry.tier,
        provider=entry.provider,
        fallback_refs=tuple(entry.fallbacks) if entry.fallbacks is not None else None,
        fallbacks=tuple(fallbacks) if fallbacks is not None else None,
        temperature=entry.temperature,
        max_tokens=entry.max_tokens,
        timeout_seconds=entry.timeout_seconds,
    )


def _ref(ref: str, registry: ModelRegistry, path: Path, key: str, problems: list[ConfigError]) -> ModelInfo | None:
    try:
        return registry.parse_ref(ref)
    except ConfigError as exc:
        problems.append(ConfigError(exc.detail, path=path, key=key))
    except NotFoundError as exc:
        problems.append(ConfigError(str(exc), path=path, key=key))
    return None


def _provider_missing(
    provider: str, registry: ModelRegistry, path: Path, key: str, problems: list[ConfigError]
) -> bool:
    try:
        registry.connection(provider)
    except NotFoundError as exc:
        problems.append(ConfigError(str(exc), path=path, key=f"{key}.provider"))
        return True
    return False
