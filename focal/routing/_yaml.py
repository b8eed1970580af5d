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


def read_yaml(path: Path) -> Any:
    """Parse one YAML file.

    Raises:
        ConfigError: the file is missing, unreadable, or not valid YAML.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError("file not found", path=path) from None
    except OSError as exc:
        raise ConfigError(f"cannot read file: {exc.strerror}", path=path) from None
    try:
        return yaml.safe_load(text)
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
