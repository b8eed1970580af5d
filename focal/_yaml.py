"""Read YAML config files into pydantic models with errors that name the file and key path."""

from __future__ import annotations

from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ValidationError

from focal.errors import ConfigError

M = TypeVar("M", bound=BaseModel)


def key_path(loc: tuple[int | str, ...]) -> str:
    """Render a pydantic error location as `providers.openai.models[0].id`."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += f".{part}" if out else str(part)
    return out or "<root>"


class _DuplicateKeys(yaml.YAMLError):
    """Mapping keys given twice; `found` holds (key path, line, line of the first occurrence), 1-based."""

    def __init__(self, found: list[tuple[str, int, int]]) -> None:
        super().__init__(f"{len(found)} duplicate key(s)")
        self.found = found


class _StrictLoader(yaml.SafeLoader):
    """`SafeLoader` that refuses a mapping key given twice (plain PyYAML lets the later one win).

    The whole node tree is checked before anything is constructed, so every duplicate is reported
    with its key path, and keys that a `<<` merge brings in may still be overridden on purpose.
    """

    def construct_document(self, node: yaml.Node) -> Any:
        found: list[tuple[str, int, int]] = []
        self._check_mapping_keys(node, (), found, set())
        if found:
            raise _DuplicateKeys(found)
        return super().construct_document(node)

    def _check_mapping_keys(
        self, node: yaml.Node, loc: tuple[int | str, ...], found: list[tuple[str, int, int]], seen: set[int]
    ) -> None:
        if id(node) in seen:  # an alias: already checked where its anchor was defined
            return
        seen.add(id(node))
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                self._check_mapping_keys(item, (*loc, i), found, seen)
        elif isinstance(node, yaml.MappingNode):
            first_line: dict[Any, int] = {}
            for key_node, value_node in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    self._check_mapping_keys(value_node, loc, found, seen)
                    continue
                key: Any = key_node.value
                if isinstance(key_node, yaml.ScalarNode):
                    key = self.construct_object(key_node)  # `1` and `0x1` are one key, `1` and `"1"` two
                child = (*loc, str(key))
                line = key_node.start_mark.line + 1
                try:
                    if key in first_line:
                        found.append((key_path(child), line, first_line[key]))
                    else:
                        first_line[key] = line
                except TypeError:  # unhashable key: PyYAML reports it while constructing
                    pass
                self._check_mapping_keys(value_node, child, found, seen)


def key_lines(path: Path) -> dict[str, int]:
    """The 1-based line of every key path in a YAML file already read by `read_yaml` (`rules[2].when`:
    the line of that value), so later checks can name the line of what they reject. {} if unparsable."""
    try:
        root = yaml.compose(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
    except (OSError, UnicodeDecodeError, yaml.YAMLError, RecursionError):
        return {}
    lines: dict[str, int] = {}

    def walk(node: yaml.Node | None, loc: tuple[int | str, ...]) -> None:
        if node is None:
            return
        lines.setdefault(key_path(loc), node.start_mark.line + 1)
        if isinstance(node, yaml.SequenceNode):
            for i, item in enumerate(node.value):
                walk(item, (*loc, i))
        elif isinstance(node, yaml.MappingNode):
            for key_node, value_node in node.value:
                if isinstance(key_node, yaml.ScalarNode):
                    child = (*loc, str(key_node.value))
                    lines.setdefault(key_path(child), key_node.start_mark.line + 1)
                    walk(value_node, child)

    walk(root, ())
    return lines


def read_yaml(path: Path) -> Any:
    """Parse one YAML file.

    Raises:
        ConfigError: the file is missing, unreadable, or not valid YAML (including a mapping key
            given twice, reported with its key path and line, and nesting too deep to parse).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", path=path) from None
    except UnicodeDecodeError as exc:
        byte = exc.object[exc.start : exc.start + 1].hex() or "??"
        raise ConfigError(f"not UTF-8 text (byte 0x{byte} at position {exc.start})", path=path) from None
    try:
        return yaml.load(text, Loader=_StrictLoader)  # a SafeLoader subclass
    except _DuplicateKeys as exc:
        raise_problems(
            [
                ConfigError(f"duplicate key at line {line} (first given at line {first})", path=path, key=key)
                for key, line, first in exc.found
            ]
        )
        raise  # unreachable
    except RecursionError:  # PyYAML composes and constructs nested nodes recursively
        raise ConfigError("invalid YAML: nested too deeply", path=path) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError(f"invalid YAML{where}: {problem}", path=path) from None


def validation_problems(exc: ValidationError, path: Path) -> list[ConfigError]:
    """One `ConfigError` per pydantic error, each naming file and key path."""
    return [ConfigError(err["msg"], path=path, key=key_path(err["loc"])) for err in exc.errors()]


def raise_problems(problems: list[ConfigError]) -> None:
    """Raise one `ConfigError` listing every problem (first one's path), or do nothing."""
    if problems:
        raise ConfigError.from_problems(problems)


def parse_model(schema: type[M], data: Any, path: Path) -> M:
    """Validate `data` against `schema`.

    Raises:
        ConfigError: listing every validation error with its key path.
    """
    if not isinstance(data, dict):
        raise ConfigError(f"expected a mapping at the top level, got {type(data).__name__}", path=path)
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise_problems(validation_problems(exc, path))
        raise  # unreachable
