"""Focal agents (installed as focal.agents): one Agno `Agent` per LLM step of the turn.

Each step module defines the step's typed output (a frozen pydantic model), its `Agent` (name, stable id,
instructions, `output_schema`, telemetry off) and a pure function that builds its input text from Focal
objects. The agents are templates shared by every tenant: they have **no model and no db** and hold no
per-tenant state; the executor runs a per-call copy on the model resolved for the tenant, agent and step
(`executor.run_agent(agent, input, ctx)`). Never run one directly: without a model Agno silently picks
OpenAI (agno-3.md G20). No step agent has tools: bound tools run in the `tool_execution` step.
"""

from collections.abc import Mapping
from types import MappingProxyType

from agno.agent import Agent
from focal.agents._common import History
from focal.agents.context_extraction import (
    MIN_VARIABLE_CONFIDENCE,
    CandidateVariable,
    SituationSnapshot,
    context_extraction_agent,
    extraction_input,
)
from focal.agents.enforcement import JudgeResult, JudgeVerdict, VerdictValue, enforcement_agent, judge_input
from focal.agents.generation import GeneratedReply, generation_agent, generation_input
from focal.agents.rule_filtering import RuleFilterDecision, RuleFilterResult, rule_filtering_agent, rule_filtering_input
from focal.agents.scenario_filtering import (
    ScenarioAction,
    ScenarioDecision,
    scenario_filtering_agent,
    scenario_filtering_input,
)

__all__ = [
    "MIN_VARIABLE_CONFIDENCE",
    "STEP_AGENTS",
    "CandidateVariable",
    "GeneratedReply",
    "History",
    "JudgeResult",
    "JudgeVerdict",
    "RuleFilterDecision",
    "RuleFilterResult",
    "ScenarioAction",
    "ScenarioDecision",
    "SituationSnapshot",
    "VerdictValue",
    "context_extraction_agent",
    "enforcement_agent",
    "extraction_input",
    "generation_agent",
    "generation_input",
    "judge_input",
    "rule_filtering_agent",
    "rule_filtering_input",
    "scenario_filtering_agent",
    "scenario_filtering_input",
]

STEP_AGENTS: Mapping[str, Agent] = MappingProxyType(
    {
        "context_extraction": context_extraction_agent,
        "rule_filtering": rule_filtering_agent,
        "scenario_filtering": scenario_filtering_agent,
        "generation": generation_agent,
        "enforcement": enforcement_agent,
    }
)
"""The step agents by step name (the workflow's step names)."""
