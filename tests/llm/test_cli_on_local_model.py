"""`focal demo` and `focal chat` as a newcomer runs them: real processes on the real local model, no
provider key. Structure only (a 135M model's wording is anyone's guess)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pexpect
import pytest
from focal.tools import seed_demo_data

from focal.app import Focal
from focal.settings import FocalSettings
from tests.llm.conftest import is_alive

pytestmark = pytest.mark.llm

SUPPORT = Path(__file__).resolve().parents[2] / "configs" / "alignment" / "support"
FOCAL = [sys.executable, "-m", "focal"]


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOCAL_")}
    for name in ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "OLLAMA_HOST", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        env.pop(name, None)
    env.update(FOCAL_DATA_DIR=str(tmp_path / "data"), AGNO_TELEMETRY="false", COLUMNS="160")
    return env


def _children(pid: int) -> list[int]:
    """Processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def test_the_demo_holds_both_conversations_on_the_local_model(tmp_path: Path) -> None:
    env = _env(tmp_path)
    done = subprocess.run([*FOCAL, "demo"], env=env, capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr[-3000:]
    out = done.stdout
    assert "steps run on the local model" in out and "embedded" in out.lower()
    for tenant in ("acme", "globex"):
        for turn in range(1, 5):
            assert f"{tenant} · turn {turn}" in out
    assert out.count("enforcement") >= 8 and "tenant_override" in out  # globex's generation
    assert "cost by step" in out and "cost by tenant" in out and "calls not made" in out
    report = tmp_path / "data" / "focal-demo-report.html"
    assert report.is_file() and "<html" in report.read_text().lower()
    # again, as JSON, on the same database: one object per turn
    again = subprocess.run([*FOCAL, "demo", "--json"], env=env, capture_output=True, text=True, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    turns = json.loads(again.stdout)
    assert [(t["tenant_id"], t["turn"]) for t in turns] == [(t, n) for t in ("acme", "globex") for n in range(1, 5)]
    for t in turns:
        assert t["reply"] and t["verdict"] in ("passed", "regenerated", "fallback", "not_checked")
        assert t["models"] or t["verdict"] == "not_checked"
        assert all(entry.split("=")[1].startswith("local/") for entry in t["models"])
        assert not any(isinstance(v, dict) for v in t.values())  # flat, as every --json row


def test_sigint_to_the_demo_leaves_no_server_behind(tmp_path: Path) -> None:
    demo = subprocess.Popen(
        [*FOCAL, "demo"], env=_env(tmp_path), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    )
    assert demo.stdout is not None
    servers: list[int] = []
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and not servers:
        line = demo.stdout.readline()
        if "local model server ready" in line:
            servers = _children(demo.pid)
    assert servers, "the demo never reported its server"
    demo.send_signal(signal.SIGINT)
    demo.wait(timeout=60)
    assert demo.returncode != 0
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(is_alive(pid) for pid in servers):
        time.sleep(0.1)
    assert not any(is_alive(pid) for pid in servers)


def test_chat_through_a_terminal(tmp_path: Path) -> None:
    env = _env(tmp_path)
    url = f"sqlite:///{tmp_path / 'data' / 'focal.db'}"
    focal = Focal.open(FocalSettings(database_url=url, data_dir=tmp_path / "data"), migrate=True)
    try:
        focal.alignment.import_folder(SUPPORT, "acme", created_by="tests")
        seed_demo_data(focal.engine, ["acme"])
    finally:
        focal.close()
    env["FOCAL_DATABASE_URL"] = url
    chat = pexpect.spawn(
        sys.executable,
        ["-m", "focal", "chat", "--tenant", "acme", "--agent", "support", "--user", "u-42"],
        env=env,
        encoding="utf-8",
        timeout=180,
        dimensions=(50, 160),
    )
    try:
        chat.expect("local model server ready")
        chat.expect("you>")
        chat.sendline("/why")
        chat.expect("no turn yet")
        chat.sendline("Hi there!")
        chat.expect("turn 1")
        chat.expect("enforcement")
        chat.expect("you>")
        chat.sendline("/why")
        chat.expect("rules")
        chat.expect("models")
        chat.expect("you>")
        chat.sendline("/models")
        chat.expect("context_extraction")
        chat.expect("you>")
        chat.sendline("/reset")
        chat.expect("new conversation")
        chat.expect("you>")
        chat.sendintr()  # Ctrl-C leaves cleanly
        chat.expect("bye")
        chat.expect(pexpect.EOF)
    finally:
        chat.close()
    assert chat.exitstatus == 0, chat.before
