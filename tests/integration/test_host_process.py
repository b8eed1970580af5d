"""Focal as a library leaves the host process alone: importing it and building a `Focal` sets no
environment variable and configures no logging, and the Agno objects it builds have telemetry off
without `AGNO_TELEMETRY`. The `focal` CLI owns its process and does both. Each check runs in a fresh
interpreter, so the imports are the first ones."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

HOST = """
import json, logging, os, sys
import structlog

env, config = dict(os.environ), structlog.get_config()
root = (list(logging.root.handlers), logging.root.level)
configured = structlog.is_configured()

import focal, focal.app, focal.cli, focal.execution, focal.logging, focal.providers, focal.storage, focal.telemetry
from agno.agent import Agent
from focal import Focal, FocalSettings
from focal.execution import ExecutionContext
from focal.execution.testing import FakeModels

built = []  # every Agno Agent made in this process
agent_init = Agent.__init__
def recording_init(self, *args, **kwargs):
    agent_init(self, *args, **kwargs)
    built.append(self)
Agent.__init__ = recording_init

async def host():
    app = await Focal.create(FocalSettings(), model_factory=FakeModels(default="ok").factory)
    try:
        context = ExecutionContext(tenant_id="acme", agent_id="support", session_id="acme:s1", step_name="generation")
        reply = await app.executor.run("hi", context)
    finally:
        await app.aclose()
    return reply.content

import asyncio
content = asyncio.run(host())
Focal.open().close()
report = {
    "content": content,
    "env_added": sorted(set(os.environ) - set(env)),
    "env_changed": sorted(k for k in env if os.environ.get(k) != env[k]),
    "structlog_config_unchanged": structlog.get_config() == config,
    "structlog_configured": structlog.is_configured() or configured,
    "root_logging_unchanged": (list(logging.root.handlers), logging.root.level) == root,
    "agents": len(built),
    "agents_with_telemetry": sum(1 for a in built if a.telemetry is not False),
}
Focal.open(configure_logging=True).close()
report["opted_in_configures_structlog"] = structlog.is_configured()
report["opted_in_leaves_env"] = "AGNO_TELEMETRY" not in os.environ
print(json.dumps(report))
"""

CLI = """
import json, os, sys
import structlog
import focal.cli

assert "AGNO_TELEMETRY" not in os.environ and not structlog.is_configured()
sys.argv = ["focal", "models", "tasks", "--json"]
try:
    focal.cli.main()
except SystemExit as exit:
    code = exit.code
print(json.dumps({"code": code, "agno_telemetry": os.environ.get("AGNO_TELEMETRY"),
                  "structlog_configured": structlog.is_configured()}))
"""


def _run(script: str, tmp_path: Path) -> dict[str, object]:
    env = {k: v for k, v in os.environ.items() if k != "AGNO_TELEMETRY" and not k.startswith("FOCAL_")}
    env["FOCAL_DATA_DIR"] = str(tmp_path / "data")
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(script)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr
    report: dict[str, object] = json.loads(done.stdout.strip().splitlines()[-1])
    return report


def test_a_host_keeps_its_environment_and_logging(tmp_path: Path) -> None:
    report = _run(HOST, tmp_path)
    assert report["content"] == "ok"
    assert report["env_added"] == [] and report["env_changed"] == []  # no AGNO_TELEMETRY, nothing else
    assert report["structlog_config_unchanged"] is True and report["structlog_configured"] is False
    assert report["root_logging_unchanged"] is True
    assert report["agents"] and report["agents_with_telemetry"] == 0  # off without AGNO_TELEMETRY
    assert report["opted_in_configures_structlog"] is True and report["opted_in_leaves_env"] is True


def test_the_cli_owns_its_process(tmp_path: Path) -> None:
    report = _run(CLI, tmp_path)
    assert report == {"code": 0, "agno_telemetry": "false", "structlog_configured": True}
