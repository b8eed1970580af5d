"""What tools exist, what they take and what they return: the names alignment configs may bind.

The workflow fills a `ToolCatalog` from its tool registry; configs are checked against it at import.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

__all__ = ["ToolCatalog", "ToolSpec"]


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool's id, its parameters (name → JSON type) and the fields its result sets as turn variables."""

    id: str
    description: str = ""
    parameters: Mapping[str, str] = field(default_factory=dict)
    outputs: frozenset[str] = frozenset()


class ToolCatalog:
    """Tool specs by id."""

    def __init__(self, specs: Iterable[ToolSpec] = ()) -> None:
        self._specs: dict[str, ToolSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: ToolSpec) -> None:
        if spec.id in self._specs:
            raise ValueError(f"tool {spec.id!r} is declared twice")
        self._specs[spec.id] = spec

    def get(self, tool_id: str) -> ToolSpec | None:
        return self._specs.get(tool_id)

    def __contains__(self, tool_id: object) -> bool:
        return tool_id in self._specs

    def ids(self) -> list[str]:
        return sorted(self._specs)

    def outputs(self) -> frozenset[str]:
        """Every field any tool sets as a turn variable."""
        return frozenset(name for spec in self._specs.values() for name in spec.outputs)
