"""Deterministic conditions over turn variables, e.g. `refund_amount <= 50 and customer_tier == "gold"`.

Parsed once at load time, evaluated by `simpleeval` (never `eval`) on a whitelisted subset of Python
expressions: literals, names, comparisons, `and`/`or`/`not`, arithmetic, `in`, list/tuple literals and
a few pure functions. No attribute access, no subscripts, no comprehensions, no lambdas. Size is bounded
(characters and syntax nodes) and so is the work (simpleeval caps powers and string lengths).

A variable that the turn does not know (absent or None) makes the expression `UNKNOWN`: "cannot
decide", which is never `True` nor `False`. Callers decide what unknown means (a rule's `check` fails
closed; a transition is simply not taken).
"""

from __future__ import annotations

import ast
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from enum import Enum
from typing import Any, Final

import simpleeval

__all__ = ["MAX_EXPRESSION_CHARS", "UNKNOWN", "Expression", "ExpressionError", "Unknown", "compile_expression"]

MAX_EXPRESSION_CHARS: Final = 500
MAX_NODES: Final = 200


class Unknown(Enum):
    """The verdict of an expression that names a variable the turn does not know."""

    UNKNOWN = "unknown"

    def __bool__(self) -> bool:  # refuse to be mistaken for False (or True)
        raise TypeError("an UNKNOWN verdict is neither true nor false; compare it with `is UNKNOWN`")


UNKNOWN: Final = Unknown.UNKNOWN


class ExpressionError(ValueError):
    """An expression that does not parse, is too large, or uses something not allowed."""


def _matches(value: Any, pattern: Any) -> bool:
    return isinstance(value, str) and isinstance(pattern, str) and re.fullmatch(pattern, value) is not None


FUNCTIONS: Final[dict[str, Any]] = {
    "len": len,
    "abs": abs,
    "min": min,
    "max": max,
    "round": round,
    "int": int,
    "float": float,
    "str": str,
    "lower": lambda s: s.lower() if isinstance(s, str) else s,
    "upper": lambda s: s.upper() if isinstance(s, str) else s,
    "contains": lambda s, part: isinstance(s, str) and isinstance(part, str) and part.lower() in s.lower(),
    "matches": _matches,
}
CONSTANTS: Final[dict[str, Any]] = {"true": True, "false": False, "True": True, "False": False, "None": None}

_ALLOWED_NODES: Final = (
    ast.Expression,
    ast.BoolOp,
    ast.And,
    ast.Or,
    ast.UnaryOp,
    ast.Not,
    ast.USub,
    ast.UAdd,
    ast.BinOp,
    ast.Add,
    ast.Sub,
    ast.Mult,
    ast.Div,
    ast.FloorDiv,
    ast.Mod,
    ast.Compare,
    ast.Eq,
    ast.NotEq,
    ast.Lt,
    ast.LtE,
    ast.Gt,
    ast.GtE,
    ast.In,
    ast.NotIn,
    ast.Is,
    ast.IsNot,
    ast.Name,
    ast.Load,
    ast.Constant,
    ast.List,
    ast.Tuple,
    ast.Call,
    ast.IfExp,
)


_THREAD: Final = threading.local()


def _evaluator() -> simpleeval.EvalWithCompoundTypes:
    """This thread's evaluator: building one costs more than most evaluations, and an evaluation is
    synchronous, so one per thread is reused with the names of each call."""
    evaluator: simpleeval.EvalWithCompoundTypes | None = getattr(_THREAD, "evaluator", None)
    if evaluator is None:
        evaluator = _THREAD.evaluator = simpleeval.EvalWithCompoundTypes(functions=FUNCTIONS)
    return evaluator


@dataclass(frozen=True, slots=True)
class Expression:
    """A parsed, checked expression. `names`: the turn variables it reads."""

    source: str
    names: frozenset[str]
    _parsed: ast.AST
    """The tree as simpleeval reads it (its own `parse`, done once)."""

    def evaluate(self, variables: Mapping[str, Any]) -> bool | Unknown:
        """True or False; `UNKNOWN` when a variable it reads is missing or None, or when the values
        cannot be compared (a string against a number): the expression cannot decide."""
        values: dict[str, Any] = {}
        for name in self.names:
            value = variables.get(name)
            if value is None:
                return UNKNOWN
            values[name] = value
        evaluator = _evaluator()
        evaluator.names = {**CONSTANTS, **values}
        try:
            return bool(evaluator.eval(self.source, previously_parsed=self._parsed))
        except (TypeError, ValueError, ArithmeticError, simpleeval.InvalidExpression, re.error):
            return UNKNOWN

    def __str__(self) -> str:
        return self.source


def compile_expression(source: str) -> Expression:
    """Parse and check `source`.

    Raises:
        ExpressionError: empty, longer than `MAX_EXPRESSION_CHARS`, not one expression, more than
            `MAX_NODES` syntax nodes, or using a construct or function that is not allowed.
    """
    text = source.strip()
    if not text:
        raise ExpressionError("the expression is empty")
    if len(text) > MAX_EXPRESSION_CHARS:
        raise ExpressionError(f"the expression is {len(text)} characters long (at most {MAX_EXPRESSION_CHARS})")
    try:
        tree = ast.parse(text, mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(f"does not parse: {exc.msg} (column {exc.offset})") from None
    nodes = list(ast.walk(tree))
    if len(nodes) > MAX_NODES:
        raise ExpressionError(f"the expression has {len(nodes)} parts (at most {MAX_NODES})")
    names: set[str] = set()
    called: set[int] = set()
    for node in nodes:
        if not isinstance(node, _ALLOWED_NODES):
            raise ExpressionError(f"{type(node).__name__.lower()} is not allowed in an expression")
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS or node.keywords:
                what = ast.unparse(node.func)
                raise ExpressionError(f"calling {what!r} is not allowed (functions: {', '.join(sorted(FUNCTIONS))})")
            called.add(id(node.func))
        elif isinstance(node, ast.Name) and id(node) not in called and node.id not in CONSTANTS:
            if node.id.startswith("_"):
                raise ExpressionError(f"the name {node.id!r} is not allowed")
            names.add(node.id)
    return Expression(text, frozenset(names), simpleeval.SimpleEval.parse(text))
