"""A turn's expressions, each evaluated once, with the reason its decision gives (retrieval and journeys)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from focal.alignment.config import AlignmentConfig
from focal.alignment.expressions import UNKNOWN, Expression, ExpressionError, Unknown, compile_expression

__all__ = ["Verdicts"]


class Verdicts:
    """A turn's expressions, each evaluated once, with the reason a decision gives, e.g.
    `when_expression is true: x > 1` or `cannot decide: unknown variable(s) x in when_expression 'x > 1'`."""

    __slots__ = ("config", "known", "memo", "variables")

    def __init__(self, config: AlignmentConfig, variables: Mapping[str, Any]) -> None:
        self.config = config
        self.variables = variables
        self.known = {name for name, value in variables.items() if value is not None}
        self.memo: dict[tuple[str, str], tuple[bool | Unknown, str]] = {}

    def __call__(self, label: str, source: str) -> tuple[bool | Unknown, str]:
        found = self.memo.get((label, source))
        if found is None:
            found = self.memo[(label, source)] = self._decide(label, source)
        return found

    def _decide(self, label: str, source: str) -> tuple[bool | Unknown, str]:
        expression: Expression | None = self.config.expressions.get(source)
        if expression is None:  # a configuration compiled without it (validated ones have them all)
            try:
                expression = compile_expression(source)
            except ExpressionError as exc:
                return UNKNOWN, f"cannot decide: {label} {source!r} is invalid ({exc})"
        if not expression.names <= self.known:  # what `evaluate` would say, without building an evaluator
            missing = ", ".join(sorted(expression.names - self.known))
            return UNKNOWN, f"cannot decide: unknown variable(s) {missing} in {label} {source!r}"
        verdict = expression.evaluate(self.variables)
        if verdict is UNKNOWN:
            return verdict, f"cannot decide: {label} {source!r} compares values that cannot be compared"
        return verdict, f"{label} is {'true' if verdict else 'false'}: {source}"
