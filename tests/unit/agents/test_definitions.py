"""The step agents are shareable templates: no model, no db, no telemetry, a typed output, a stable id."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import focal.agents
import pytest
from agno.agent import Agent
from focal.agents import STEP_AGENTS
from pydantic import BaseModel

ROOT = Path(__file__).resolve().parents[3]
STEPS = ("context_extraction", "rule_filtering", "scenario_filtering", "generation", "enforcement")


def test_one_agent_per_llm_step() -> None:
    assert tuple(STEP_AGENTS) == STEPS
    with pytest.raises(TypeError):
        STEP_AGENTS["generation"] = STEP_AGENTS["enforcement"]  # type: ignore[index]


@pytest.mark.parametrize("step", STEPS)
def test_an_agent_is_a_template_without_model_or_db(step: str) -> None:
    agent = STEP_AGENTS[step]
    assert isinstance(agent, Agent)
    assert agent.model is None, "G20: an Agent without model would run on OpenAI; the executor sets the model"
    assert agent.db is None
    assert agent.telemetry is False
    assert agent.name == step
    assert agent.id == "focal-" + step.replace("_", "-")
    assert isinstance(agent.output_schema, type) and issubclass(agent.output_schema, BaseModel)
    assert agent.output_schema.model_config.get("frozen") is True
    assert isinstance(agent.instructions, str) and 0 < len(agent.instructions) < 1200, "short, for small models"
    assert not agent.tools, "bound tools run in the tool_execution step"
    assert agent.session_id is None and agent.session_state is None and agent.workflow_id is None


@pytest.mark.parametrize("step", STEPS)
def test_output_schemas_suit_strict_structured_outputs(step: str) -> None:
    schema = STEP_AGENTS[step].output_schema.model_json_schema()  # type: ignore[union-attr]
    nodes = [schema, *schema.get("$defs", {}).values()]
    for node in nodes:
        for name, prop in node["properties"].items():
            assert "default" not in prop and "title" not in prop, (step, name)
            assert not {"minLength", "maxLength"} & set(prop), (step, name)
            assert prop.get("description"), f"{step}.{name} has no description for the model"


def test_the_public_names_are_importable_and_complete() -> None:
    names = focal.agents.__all__
    assert len(names) == len(set(names))
    namespace: dict[str, object] = {}
    exec("from focal.agents import *", namespace)
    assert set(namespace) - {"__builtins__"} == set(names)
    for name in ("SituationSnapshot", "RuleFilterResult", "ScenarioDecision", "GeneratedReply", "JudgeVerdict"):
        assert name in names
    for name in ("extraction_input", "rule_filtering_input", "scenario_filtering_input", "generation_input"):
        assert callable(getattr(focal.agents, name))


def test_importing_the_agents_builds_no_model_and_loads_no_provider() -> None:
    code = (
        "import sys, focal.agents\n"
        "assert all(a.model is None for a in focal.agents.STEP_AGENTS.values())\n"
        "bad = ('openai', 'anthropic', 'ollama', 'agno.models.openai', 'agno.models.anthropic', 'agno.models.ollama',\n"
        "       'focal.execution', 'focal.providers', 'focal.workflows', 'focal.tools')\n"
        "print(sorted(m for m in sys.modules if any(m == b or m.startswith(b + '.') for b in bad)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
