"""Focal's error hierarchy.

- `FocalError`: root of every error Focal raises on purpose.
  - `ConfigError`: bad configuration (YAML, references, settings), raised at load time.
    Carries the file and the key path that are wrong.
  - `NotFoundError`: an unknown agent, step, model, provider, tier or task.
    - `UnknownTaskError`
  - `OverrideExistsError`: a tenant override already exists and replacing it was not allowed.
  - `StorageError`: the database cannot be reached or is not migrated.
    - `TurnExistsError` (`focal.alignment`): the turn's number is already recorded — another turn of
      the session (perhaps in another process) got there first; nothing was written.

The execution layer (`focal.execution.errors`) extends this tree with run-time failures; `focal.local` with
`LocalModelError` (the local model server did not start) and its `LocalModelMissing` (the `local` extra or
a model file is missing); the workflows
add `SessionOwnershipError` and `SessionBusyError` (`focal.workflows`), the tools `ToolError` (`focal.tools`).
"""

from __future__ import annotations

from pathlib import Path


class FocalError(Exception):
    """Root of every error Focal raises on purpose."""


class ConfigError(FocalError):
    """A configuration file or value is invalid.

    Args:
        message: what is wrong.
        path: the file that holds the bad value, if any.
        key: the dotted key path inside that file, if any.
        line: the 1-based line in that file where the bad value is, if known.
    """

    def __init__(
        self, message: str, *, path: Path | str | None = None, key: str | None = None, line: int | None = None
    ) -> None:
        self.path = str(path) if path is not None else None
        self.key = key
        self.line = line
        self.detail = message
        where = ""
        file = f"{self.path}:{line}" if self.path and line else self.path
        if file and key:
            where = f"{file}: {key}: "
        elif file:
            where = f"{file}: "
        elif key:
            where = f"{key}: "
        super().__init__(f"{where}{message}")
        self.problems: list[ConfigError] = [self]

    @classmethod
    def from_problems(cls, problems: list[ConfigError]) -> ConfigError:
        """One error that lists several problems (each keeps its own file and key)."""
        if len(problems) == 1:
            return problems[0]
        first = problems[0]
        listing = "\n".join(f"  - {p}" for p in problems)
        err = cls(f"{len(problems)} problems:\n{listing}")
        err.path, err.key, err.line, err.problems = first.path, first.key, first.line, list(problems)
        return err

    def __reduce__(self):  # keep the error picklable
        return (_rebuild_config_error, (self.detail, self.path, self.key, self.line))


def _rebuild_config_error(message: str, path: str | None, key: str | None, line: int | None = None) -> ConfigError:
    return ConfigError(message, path=path, key=key, line=line)


class NotFoundError(FocalError, LookupError):
    """Something named by the caller does not exist (agent, step, model, tenant override...)."""


class UnknownTaskError(NotFoundError):
    """A task type that is neither known nor covered by a configured default tier."""


class OverrideExistsError(FocalError):
    """A tenant override exists for this (tenant, agent, step) and replacing it was refused."""


class StorageError(FocalError):
    """The database could not be reached, or its schema is missing or out of date."""
