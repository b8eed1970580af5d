"""Model tiers, task types, and which tier a task type runs on."""

from __future__ import annotations

from enum import StrEnum

from focal.errors import UnknownTaskError

__all__ = [
    "TASK_TIER_MAP",
    "CustomTask",
    "TaskType",
    "Tier",
    "get_tasks_for_tier",
    "get_tier_for_task",
    "is_known_task",
    "normalize_task_type",
]


class Tier(StrEnum):
    """Model tiers, cheapest first. Comparison follows that order (`Tier.CHEAP < Tier.PREMIUM`).

    Members equal their names (`Tier.CHEAP == "cheap"`) and order against them by rank too
    (`Tier.CHEAP < "capable"`); ordering against any other string raises `TypeError`.
    """

    CHEAP = "cheap"
    CAPABLE = "capable"
    PREMIUM = "premium"

    @property
    def rank(self) -> int:
        """0 for cheap, 1 for capable, 2 for premium."""
        return _TIER_ORDER.index(self)

    # A `StrEnum`: `Tier.PREMIUM == "premium"`, and a member hashes like its value. Ordering must not
    # fall back to `str`'s alphabetical order (`"capable" < "cheap"`): a tier name compares by rank
    # too, and any other string is a TypeError rather than a silent wrong answer.

    def __lt__(self, other: object) -> bool:  # type: ignore[override]
        rank = _other_rank(self, other, "<")
        return NotImplemented if rank is None else self.rank < rank

    def __le__(self, other: object) -> bool:  # type: ignore[override]
        rank = _other_rank(self, other, "<=")
        return NotImplemented if rank is None else self.rank <= rank

    def __gt__(self, other: object) -> bool:  # type: ignore[override]
        rank = _other_rank(self, other, ">")
        return NotImplemented if rank is None else self.rank > rank

    def __ge__(self, other: object) -> bool:  # type: ignore[override]
        rank = _other_rank(self, other, ">=")
        return NotImplemented if rank is None else self.rank >= rank

    def lower(self) -> Tier | None:
        """The next cheaper tier, or None for cheap."""
        return _TIER_ORDER[self.rank - 1] if self.rank > 0 else None


_TIER_ORDER = (Tier.CHEAP, Tier.CAPABLE, Tier.PREMIUM)


def _other_rank(tier: Tier, other: object, op: str) -> int | None:
    """The rank of the right-hand side of a tier comparison; None when it is not a string at all."""
    if isinstance(other, Tier):
        return other.rank
    if not isinstance(other, str):
        return None
    member = Tier._value2member_map_.get(other)
    if member is None:
        tiers = ", ".join(t.value for t in Tier)
        raise TypeError(f"cannot compare {tier!r} {op} {other!r}: not a tier name ({tiers})")
    return Tier(member).rank


class TaskType(StrEnum):
    """What an LLM call is for; decides the default tier."""

    # general tasks
    SUMMARIZE = "summarize"
    CLASSIFY = "classify"
    EXTRACT = "extract"
    FORMAT = "format"
    VALIDATE = "validate"
    GENERATE_CODE = "generate_code"
    FIX_BUG = "fix_bug"
    REFACTOR = "refactor"
    ANALYZE = "analyze"
    REVIEW = "review"
    COORDINATE = "coordinate"
    ARCHITECT = "architect"
    SECURITY_AUDIT = "security_audit"
    COMPLEX_REASONING = "complex_reasoning"
    # alignment pipeline steps
    CONTEXT_EXTRACTION = "context_extraction"
    RULE_FILTERING = "rule_filtering"
    SCENARIO_NAVIGATION = "scenario_navigation"
    RESPONSE_GENERATION = "response_generation"
    ENFORCEMENT_JUDGING = "enforcement_judging"


class CustomTask(str):
    """A task name that is not a `TaskType`, kept (normalized) when `FOCAL_DEFAULT_TASK_TIER` routes it.

    It reads like a `TaskType` member: it is the task's name, and `.value` is that name too, so
    code that reports `task_type.value` works for both.
    """

    __slots__ = ()

    @property
    def value(self) -> str:
        """The task's name."""
        return str.__str__(self)

    def __repr__(self) -> str:
        return f"CustomTask({str.__repr__(self)})"


TASK_TIER_MAP: dict[TaskType, Tier] = {
    TaskType.SUMMARIZE: Tier.CHEAP,
    TaskType.CLASSIFY: Tier.CHEAP,
    TaskType.EXTRACT: Tier.CHEAP,
    TaskType.FORMAT: Tier.CHEAP,
    TaskType.VALIDATE: Tier.CHEAP,
    TaskType.GENERATE_CODE: Tier.CAPABLE,
    TaskType.FIX_BUG: Tier.CAPABLE,
    TaskType.REFACTOR: Tier.CAPABLE,
    TaskType.ANALYZE: Tier.CAPABLE,
    TaskType.REVIEW: Tier.CAPABLE,
    TaskType.COORDINATE: Tier.PREMIUM,
    TaskType.ARCHITECT: Tier.PREMIUM,
    TaskType.SECURITY_AUDIT: Tier.PREMIUM,
    TaskType.COMPLEX_REASONING: Tier.PREMIUM,
    TaskType.CONTEXT_EXTRACTION: Tier.CHEAP,
    TaskType.RULE_FILTERING: Tier.CHEAP,
    TaskType.SCENARIO_NAVIGATION: Tier.CHEAP,
    TaskType.RESPONSE_GENERATION: Tier.CAPABLE,
    TaskType.ENFORCEMENT_JUDGING: Tier.CAPABLE,
}


def normalize_task_type(task: str | TaskType) -> str:
    """Lower-case, trim, and turn `-` and spaces into `_` (`"Fix-Bug"` → `"fix_bug"`)."""
    if isinstance(task, TaskType):
        return task.value
    return "_".join(task.strip().lower().replace("-", " ").split())


def is_known_task(task: str | TaskType) -> bool:
    """Whether `task` (after normalization) is a `TaskType`."""
    return normalize_task_type(task) in TaskType._value2member_map_


def to_task_type(task: str | TaskType) -> TaskType:
    """Parse a task name into a `TaskType`.

    Raises:
        UnknownTaskError: the name is not a known task type.
    """
    name = normalize_task_type(task)
    try:
        return TaskType(name)
    except ValueError:
        known = ", ".join(t.value for t in TaskType)
        raise UnknownTaskError(f"unknown task type {task!r} (known: {known})") from None


def get_tier_for_task(task: str | TaskType, *, default: Tier | str | None = None) -> Tier:
    """The tier a task type runs on.

    Args:
        task: a task type or its name (normalized first).
        default: tier for unknown tasks; None (the default) makes unknown tasks an error.

    Raises:
        UnknownTaskError: the task is unknown and no default is given.
    """
    name = normalize_task_type(task)
    known = TaskType._value2member_map_.get(name)
    if known is not None:
        return TASK_TIER_MAP[known]  # type: ignore[index]
    if default is not None:
        return Tier(default)
    return TASK_TIER_MAP[to_task_type(task)]  # raises UnknownTaskError


def get_tasks_for_tier(tier: Tier | str) -> list[TaskType]:
    """Task types that run on `tier`, in declaration order (stable output)."""
    wanted = Tier(tier)
    return [task for task, task_tier in TASK_TIER_MAP.items() if task_tier is wanted]
