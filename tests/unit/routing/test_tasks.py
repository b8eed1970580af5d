"""Task types, tiers and their lookups."""

from __future__ import annotations

import pytest

from focal import UnknownTaskError
from focal.routing import (
    TASK_TIER_MAP,
    TaskType,
    Tier,
    get_tasks_for_tier,
    get_tier_for_task,
    is_known_task,
    normalize_task_type,
)


def test_every_task_type_has_a_tier() -> None:
    assert set(TASK_TIER_MAP) == set(TaskType)


@pytest.mark.parametrize(
    ("name", "tier"),
    [
        ("summarize", "cheap"),
        ("classify", "cheap"),
        ("extract", "cheap"),
        ("format", "cheap"),
        ("validate", "cheap"),
        ("generate_code", "capable"),
        ("fix_bug", "capable"),
        ("refactor", "capable"),
        ("analyze", "capable"),
        ("review", "capable"),
        ("coordinate", "premium"),
        ("architect", "premium"),
        ("security_audit", "premium"),
        ("complex_reasoning", "premium"),
        ("context_extraction", "cheap"),
        ("rule_filtering", "cheap"),
        ("scenario_navigation", "cheap"),
        ("response_generation", "capable"),
        ("enforcement_judging", "capable"),
    ],
)
def test_seed_and_alignment_tasks(name: str, tier: str) -> None:
    assert get_tier_for_task(name) is Tier(tier)


def test_normalization() -> None:
    assert normalize_task_type(" Fix-Bug ") == "fix_bug"
    assert normalize_task_type("security audit") == "security_audit"
    assert get_tier_for_task("Complex-Reasoning") is Tier.PREMIUM
    assert is_known_task("Response Generation") and not is_known_task("poetry")


def test_unknown_task_is_an_error_unless_a_default_is_given() -> None:
    with pytest.raises(UnknownTaskError, match="unknown task type 'poetry'"):
        get_tier_for_task("poetry")
    assert get_tier_for_task("poetry", default="cheap") is Tier.CHEAP
    assert get_tier_for_task("summarize", default="premium") is Tier.CHEAP  # known tasks ignore the default


def test_tasks_for_tier_in_stable_order() -> None:
    assert get_tasks_for_tier("premium") == [
        TaskType.COORDINATE,
        TaskType.ARCHITECT,
        TaskType.SECURITY_AUDIT,
        TaskType.COMPLEX_REASONING,
    ]
    assert get_tasks_for_tier(Tier.CHEAP)[:2] == [TaskType.SUMMARIZE, TaskType.CLASSIFY]


def test_tier_order() -> None:
    assert Tier.CHEAP < Tier.CAPABLE < Tier.PREMIUM
    assert Tier.PREMIUM.lower() is Tier.CAPABLE and Tier.CHEAP.lower() is None
    assert sorted([Tier.PREMIUM, Tier.CHEAP, Tier.CAPABLE]) == [Tier.CHEAP, Tier.CAPABLE, Tier.PREMIUM]
