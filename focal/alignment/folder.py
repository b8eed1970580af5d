"""An agent's configuration as a folder of YAML files, read and written.

    agent.yaml              the profile (agent_id, name, persona, fallback_reply, variables, ...)
    rules.yaml              rules: [...]
    templates.yaml          templates: [...]
    scenarios/<id>.yaml     one scenario per file (its `id` defaults to the file name)

Reading names the file, key path and line of every problem; nothing is half-read.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from focal._yaml import key_lines, key_path, raise_problems, read_yaml
from focal.alignment.document import AlignmentDocument
from focal.alignment.profile import AgentProfile
from focal.alignment.rules import Rule
from focal.alignment.scenarios import Scenario
from focal.alignment.templates import Template
from focal.errors import ConfigError

__all__ = ["Sources", "read_folder", "write_folder"]

AGENT_FILE, RULES_FILE, TEMPLATES_FILE, SCENARIOS_DIR = "agent.yaml", "rules.yaml", "templates.yaml", "scenarios"


@dataclass
class Sources:
    """Where each item of a document was read from, to name file, key and line in later checks."""

    places: dict[tuple[str, str], tuple[Path, str]] = field(default_factory=dict)
    lines: dict[Path, dict[str, int]] = field(default_factory=dict)

    def add(self, kind: str, item_id: str, path: Path, key: str) -> None:
        self.places.setdefault((kind, item_id), (path, key))

    def error(self, kind: str, item_id: str, subkey: str, message: str) -> ConfigError:
        """A problem with `subkey` (e.g. `when_expression`, `steps[1].transitions[0].to`) of one item."""
        path, key = self.places.get((kind, item_id), (None, ""))
        full = ".".join(part for part in (key, subkey) if part).replace(".[", "[") or None
        if path is None:
            return ConfigError(message, key=f"{kind} {item_id}: {subkey}" if subkey else f"{kind} {item_id}")
        table = self.lines.get(path, {})
        line = None
        probe = full or ""
        while probe:  # the nearest key that has a line
            if probe in table:
                line = table[probe]
                break
            probe = probe.rsplit(".", 1)[0] if "." in probe else probe.rsplit("[", 1)[0] if "[" in probe else ""
        return ConfigError(message, path=path, key=full, line=line)


def _parse(model: type[BaseModel], data: Any, path: Path, key: str, lines: dict[str, int]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            sub = key_path(err["loc"]) if err["loc"] else ""
            full = f"{key}.{sub}".replace(".[", "[") if key and sub else key or sub or None
            probe, line = full or "", None
            while probe and line is None:
                line = lines.get(probe)
                probe = probe.rsplit(".", 1)[0] if "." in probe else ""
            message = err["msg"].removeprefix("Value error, ")
            if err["type"] == "extra_forbidden":
                message = "unknown key (not part of the format)"
            problems.append(ConfigError(message, path=path, key=full, line=line))
        raise ConfigError.from_problems(problems) from None


def _list_in(path: Path, key: str, required: bool) -> tuple[list[Any], dict[str, int]]:
    if not path.is_file():
        if required:
            raise ConfigError("file not found", path=path)
        return [], {}
    data = read_yaml(path)
    lines = key_lines(path)
    if data is None:
        return [], lines
    if not isinstance(data, dict) or set(data) - {key}:
        raise ConfigError(f"expected a mapping with one key, `{key}:` (a list)", path=path, line=1)
    items = data.get(key) or []
    if not isinstance(items, list):
        raise ConfigError("expected a list", path=path, key=key, line=lines.get(key))
    return items, lines


def read_folder(folder: Path) -> tuple[AlignmentDocument, Sources]:
    """Read an agent's folder.

    Raises:
        ConfigError: listing every problem found (YAML errors, unknown keys, bad values), each with
            its file, key path and line. Cross-item checks are `focal.alignment.validation`'s.
    """
    folder = Path(folder).expanduser()
    if not folder.is_dir():
        raise ConfigError("not a folder", path=folder)
    sources = Sources()
    problems: list[ConfigError] = []

    def collect(parse: Any) -> Any:
        try:
            return parse()
        except ConfigError as exc:
            problems.extend(exc.problems)
            return None

    agent_path = folder / AGENT_FILE

    def read_profile() -> AgentProfile:
        data = read_yaml(agent_path)
        sources.lines[agent_path] = key_lines(agent_path)
        if not isinstance(data, dict):
            raise ConfigError("expected a mapping (the agent's profile)", path=agent_path, line=1)
        return _parse(AgentProfile, data, agent_path, "", sources.lines[agent_path])

    profile = collect(read_profile)
    if profile is not None:
        sources.add("profile", profile.agent_id, agent_path, "")

    def read_items(file: str, key: str, model: type[BaseModel], kind: str) -> list[Any]:
        path = folder / file
        items, lines = _list_in(path, key, required=False)
        sources.lines[path] = lines
        parsed = []
        for i, raw in enumerate(items):
            item = collect(lambda raw=raw, i=i: _parse(model, raw, path, f"{key}[{i}]", lines))
            if item is not None:
                parsed.append(item)
                sources.add(kind, item.id, path, f"{key}[{i}]")
        return parsed

    rules = collect(lambda: read_items(RULES_FILE, "rules", Rule, "rule")) or []
    templates = collect(lambda: read_items(TEMPLATES_FILE, "templates", Template, "template")) or []
    scenarios: list[Scenario] = []
    scenario_dir = folder / SCENARIOS_DIR
    if scenario_dir.is_dir():
        for path in sorted(scenario_dir.iterdir()):
            if path.suffix not in (".yaml", ".yml") or not path.is_file():
                continue

            def read_scenario(path: Path = path) -> Scenario:
                data = read_yaml(path)
                sources.lines[path] = key_lines(path)
                if not isinstance(data, dict):
                    raise ConfigError("expected a mapping (one scenario)", path=path, line=1)
                data = {"id": path.stem.replace(".", "_"), **data}
                return _parse(Scenario, data, path, "", sources.lines[path])

            scenario = collect(read_scenario)
            if scenario is not None:
                scenarios.append(scenario)
                sources.add("scenario", scenario.id, path, "")
    for path in sorted(folder.iterdir()):
        if (
            path.is_file()
            and path.suffix in (".yaml", ".yml")
            and path.name
            not in (
                AGENT_FILE,
                RULES_FILE,
                TEMPLATES_FILE,
            )
        ):
            problems.append(
                ConfigError("unexpected file (agent.yaml, rules.yaml, templates.yaml, scenarios/)", path=path)
            )
    raise_problems(problems)
    assert profile is not None
    document = AlignmentDocument(
        profile=profile, rules=tuple(rules), templates=tuple(templates), scenarios=tuple(scenarios)
    )
    return document, sources


class _Dumper(yaml.SafeDumper):
    """Block style; multi-line strings as `|` blocks, so exported folders read like hand-written ones."""


def _str(dumper: yaml.SafeDumper, value: str) -> yaml.Node:
    style = "|" if "\n" in value else None
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style=style)


_Dumper.add_representer(str, _str)


def _dump(data: Any, path: Path) -> None:
    text = yaml.dump(data, Dumper=_Dumper, sort_keys=False, allow_unicode=True, default_flow_style=False, width=100)
    path.write_text(text, encoding="utf-8")


def _clean(item: BaseModel) -> dict[str, Any]:
    """An item as YAML data, without the keys left at their defaults."""
    return item.model_dump(mode="json", exclude_defaults=True)


def write_folder(document: AlignmentDocument, folder: Path) -> None:
    """Write `document` as a folder that `read_folder` reads back to the same version.

    Raises:
        ConfigError: the folder exists and is not empty (an export never mixes with other files).
    """
    folder = Path(folder).expanduser()
    if folder.exists() and (not folder.is_dir() or any(folder.iterdir())):
        raise ConfigError("exists and is not an empty folder; export into a new one", path=folder)
    folder.mkdir(parents=True, exist_ok=True)
    _dump(_clean(document.profile), folder / AGENT_FILE)
    _dump({"rules": [_clean(r) for r in document.rules]}, folder / RULES_FILE)
    _dump({"templates": [_clean(t) for t in document.templates]}, folder / TEMPLATES_FILE)
    (folder / SCENARIOS_DIR).mkdir()
    for scenario in document.scenarios:
        _dump(_clean(scenario), folder / SCENARIOS_DIR / f"{scenario.id}.yaml")
