"""Load and validate a whole config directory (`models.yaml` + `agents/*.yaml`)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from focal.errors import ConfigError
from focal.routing.catalogs import AgentCatalogs, CatalogSet
from focal.routing.registry import ModelRegistry
from focal.routing.tasks import Tier

__all__ = ["MODELS_FILE", "load_routing_config", "validate_paths"]

MODELS_FILE = "models.yaml"
AGENTS_DIR = "agents"


def load_routing_config(
    config_dir: Path | str, *, default_task_tier: Tier | None = None
) -> tuple[ModelRegistry, AgentCatalogs]:
    """Load the registry and every agent catalog of a config directory.

    Raises:
        ConfigError: every problem, each naming file and key.
    """
    config_dir = Path(config_dir)
    registry = ModelRegistry.load(config_dir / MODELS_FILE)
    catalogs = AgentCatalogs.load(config_dir / AGENTS_DIR, registry, default_tier=default_task_tier)
    return registry, catalogs


def validate_paths(
    paths: Iterable[Path | str], *, config_dir: Path, default_task_tier: Tier | None = None
) -> tuple[list[Path], list[ConfigError]]:
    """Validate config files or directories; never raises for bad content.

    The checks are those of `load_routing_config` / `AgentCatalogs.load`: a config directory
    (`models.yaml` + `agents/`) needs its `agents/` directory, and two files defining one agent
    (`support.yaml` and `support.yml`, also when given as separate paths) are a problem. A directory
    without `models.yaml` is a directory of agent catalogs. A file is a registry if it is named
    `models.yaml` or has a top-level `providers:` key, else an agent catalog checked against the
    registry of `config_dir`.

    Returns:
        (files checked, every problem found).
    """
    checked: list[Path] = []
    problems: list[ConfigError] = []
    registries: dict[Path, ModelRegistry | None] = {}
    # one set of agents per (registry, catalog directory): duplicates are found across paths too
    sets: dict[tuple[Path, Path], CatalogSet] = {}

    def registry_for(models_file: Path) -> ModelRegistry | None:
        if models_file not in registries:
            try:
                registries[models_file] = ModelRegistry.load(models_file)
            except ConfigError as exc:
                problems.extend(exc.problems)
                registries[models_file] = None
            checked.append(models_file)
        return registries[models_file]

    def check_catalog(path: Path, models_file: Path) -> None:
        registry = registry_for(models_file)
        checked.append(path)
        if registry is None:
            return
        key = (models_file.resolve(), path.parent.resolve())
        if key not in sets:
            sets[key] = CatalogSet(registry, default_tier=default_task_tier)
        catalog_set = sets[key]
        before = len(catalog_set.problems)
        catalog_set.add(path)
        problems.extend(catalog_set.problems[before:])

    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            models_file = path / MODELS_FILE
            if models_file.is_file():
                registry_for(models_file)
                agents = path / AGENTS_DIR
                if not agents.is_dir():  # what `load_routing_config` refuses
                    problems.append(ConfigError("agent catalog directory not found", path=agents))
                    continue
                files = sorted(agents.glob("*.y*ml"))
            else:
                models_file = config_dir / MODELS_FILE
                files = sorted(path.glob("*.y*ml"))
                if not files:
                    problems.append(ConfigError("no YAML files found", path=path))
            for f in files:
                check_catalog(f, models_file)
        elif not path.exists():
            problems.append(ConfigError("file not found", path=path))
        elif path.name == MODELS_FILE or _looks_like_registry(path):
            registry_for(path)
        else:
            check_catalog(path, config_dir / MODELS_FILE)
    return checked, problems


def _looks_like_registry(path: Path) -> bool:
    try:
        head = path.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    return any(line.startswith("providers:") for line in head.splitlines())
