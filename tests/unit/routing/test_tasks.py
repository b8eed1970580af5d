"""Task types, tiers and their lookups; pipeline steps and their default tasks."""

from __future__ import annotations

import operator

import pytest

from focal import NotFoundError, UnknownTaskError
from focal.routing import (
    STEP_DEFAULT_TASKS,
    TASK_TIER_MAP,
    PipelineStep,
    TaskType,
    Tier,
    get_tasks_for_tier,
    get_tier_for_task,
    is_known_task,
    normalize_task_type,
)
from focal.routing.steps import to_step
from focal.routing.tasks import to_task_type


def test_every_task_type_has_a_tier() -> None:
    assert set(TASK_TIER_MAP) == set(TaskType)
    assert all(isinstance(tier, Tier) for tier in TASK_TIER_MAP.values())


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
    assert get_tier_for_task(TaskType(name)) is Tier(tier)


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Fix-Bug ", "fix_bug"),
        (" Fix-Bug", "fix_bug"),
        ("security audit", "security_audit"),
        ("SECURITY   AUDIT", "security_audit"),
        ("complex-reasoning", "complex_reasoning"),
        ("summarize", "summarize"),
        ("\tResponse - Generation\n", "response_generation"),
        ("poetry", "poetry"),
    ],
)
def test_normalization(raw: str, normalized: str) -> None:
    assert normalize_task_type(raw) == normalized


def test_normalization_of_enum_members_and_lookups_through_it() -> None:
    assert normalize_task_type(TaskType.FIX_BUG) == "fix_bug"
    assert get_tier_for_task("Fix-Bug ") is Tier.CAPABLE
    assert get_tier_for_task("Complex-Reasoning") is Tier.PREMIUM
    assert to_task_type(" Response Generation ") is TaskType.RESPONSE_GENERATION


def test_is_known_task() -> None:
    assert is_known_task("Response Generation")
    assert is_known_task(TaskType.REVIEW)
    assert is_known_task("fix-bug")
    assert not is_known_task("poetry")
    assert not is_known_task("")


def test_unknown_task_is_an_error_unless_a_default_is_given() -> None:
    with pytest.raises(UnknownTaskError, match="unknown task type 'poetry'") as info:
        get_tier_for_task("poetry")
    assert "known: summarize, classify" in str(info.value)
    assert isinstance(info.value, NotFoundError) and isinstance(info.value, LookupError)
    assert get_tier_for_task("poetry", default="cheap") is Tier.CHEAP
    assert get_tier_for_task("poetry", default=Tier.PREMIUM) is Tier.PREMIUM
    assert get_tier_for_task("summarize", default="premium") is Tier.CHEAP  # known tasks ignore the default
    with pytest.raises(ValueError, match="'gold'"):
        get_tier_for_task("poetry", default="gold")
    with pytest.raises(UnknownTaskError, match="unknown task type 'Poetry Slam'"):
        to_task_type("Poetry Slam")  # the message keeps the caller's spelling


def test_tasks_for_tier_in_stable_order() -> None:
    assert get_tasks_for_tier("premium") == [
        TaskType.COORDINATE,
        TaskType.ARCHITECT,
        TaskType.SECURITY_AUDIT,
        TaskType.COMPLEX_REASONING,
    ]
    assert get_tasks_for_tier(Tier.CHEAP) == [
        TaskType.SUMMARIZE,
        TaskType.CLASSIFY,
        TaskType.EXTRACT,
        TaskType.FORMAT,
        TaskType.VALIDATE,
        TaskType.CONTEXT_EXTRACTION,
        TaskType.RULE_FILTERING,
        TaskType.SCENARIO_NAVIGATION,
    ]
    assert get_tasks_for_tier("capable") == [
        TaskType.GENERATE_CODE,
        TaskType.FIX_BUG,
        TaskType.REFACTOR,
        TaskType.ANALYZE,
        TaskType.REVIEW,
        TaskType.RESPONSE_GENERATION,
        TaskType.ENFORCEMENT_JUDGING,
    ]
    assert get_tasks_for_tier("capable") == get_tasks_for_tier("capable")  # same order every call
    # the three lists partition the task types
    together = [t for tier in Tier for t in get_tasks_for_tier(tier)]
    assert sorted(together) == sorted(TaskType) and len(together) == len(TaskType)
    with pytest.raises(ValueError):
        get_tasks_for_tier("gold")


def test_tier_order() -> None:
    assert Tier.CHEAP < Tier.CAPABLE < Tier.PREMIUM
    assert Tier.PREMIUM > Tier.CAPABLE >= Tier.CAPABLE and Tier.CHEAP <= Tier.CHEAP
    assert not Tier.PREMIUM < Tier.CHEAP
    assert [t.rank for t in Tier] == [0, 1, 2]
    assert sorted([Tier.PREMIUM, Tier.CHEAP, Tier.CAPABLE]) == [Tier.CHEAP, Tier.CAPABLE, Tier.PREMIUM]
    assert max(Tier) is Tier.PREMIUM and min(Tier) is Tier.CHEAP
    # alphabetical string order would put capable first; tiers compare by cost, not by name
    assert "capable" < "cheap" and Tier.CHEAP < Tier.CAPABLE


def test_tier_lower() -> None:
    assert Tier.PREMIUM.lower() is Tier.CAPABLE
    assert Tier.CAPABLE.lower() is Tier.CHEAP
    assert Tier.CHEAP.lower() is None


def test_tiers_are_still_their_string_values() -> None:
    assert Tier.CHEAP == "cheap" and Tier("premium") is Tier.PREMIUM
    assert f"{Tier.CAPABLE}" == "capable"


def test_pipeline_steps_and_their_default_tasks() -> None:
    assert [s.value for s in PipelineStep] == [
        "context_extraction",
        "rule_filtering",
        "scenario_filtering",
        "generation",
        "enforcement",
    ]
    assert STEP_DEFAULT_TASKS == {
        PipelineStep.CONTEXT_EXTRACTION: TaskType.CONTEXT_EXTRACTION,
        PipelineStep.RULE_FILTERING: TaskType.RULE_FILTERING,
        PipelineStep.SCENARIO_FILTERING: TaskType.SCENARIO_NAVIGATION,
        PipelineStep.GENERATION: TaskType.RESPONSE_GENERATION,
        PipelineStep.ENFORCEMENT: TaskType.ENFORCEMENT_JUDGING,
    }
    assert to_step("generation") is PipelineStep.GENERATION
    assert to_step(PipelineStep.ENFORCEMENT) is PipelineStep.ENFORCEMENT
    with pytest.raises(NotFoundError, match=r"unknown step 'greeting' \(steps: context_extraction, rule_filtering"):
        to_step("greeting")
    with pytest.raises(NotFoundError, match="unknown step '\\*'"):
        to_step("*")  # the override wildcard is not a step


def test_tiers_order_against_tier_names_by_rank_not_alphabet() -> None:
    # `str` ordering would say "capable" < "cheap"; a tier name compares like its tier, from either side
    assert Tier.CHEAP < "capable" and Tier.CAPABLE > "cheap" and not Tier.CAPABLE < "cheap"
    assert Tier.PREMIUM >= "premium" and Tier.PREMIUM <= "premium" and not Tier.PREMIUM > "premium"
    # the string on the left: Python asks the `Tier` (a `str` subclass) first
    assert operator.gt("capable", Tier.CHEAP) and operator.lt("cheap", Tier.CAPABLE)
    assert operator.ge("premium", Tier.CAPABLE) and not operator.le("premium", Tier.CAPABLE)
    assert max(Tier.CHEAP, "capable") == "capable" and min("premium", Tier.CAPABLE) is Tier.CAPABLE


@pytest.mark.parametrize("other", ["gold", "Cheap", ""])
def test_ordering_a_tier_against_another_string_is_an_error(other: str) -> None:
    for compare in (operator.lt, operator.le, operator.gt, operator.ge):
        with pytest.raises(TypeError, match="not a tier name"):
            compare(Tier.CHEAP, other)
        with pytest.raises(TypeError, match="not a tier name"):
            compare(other, Tier.PREMIUM)


def test_tiers_equal_and_hash_like_their_names() -> None:
    assert Tier.PREMIUM == "premium" and operator.eq("premium", Tier.PREMIUM) and Tier.PREMIUM != "PREMIUM"
    assert {Tier.CHEAP: 1}["cheap"] == 1 and "capable" in {Tier.CAPABLE}
    with pytest.raises(TypeError):
        operator.lt(Tier.CHEAP, 1)
