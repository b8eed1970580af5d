"""`focal chat` driven through a pseudo-terminal, without a model: its commands, a turn that fails (the
model's server is down), an unknown agent, and leaving with Ctrl-C. The real-model chat is in tests/llm."""

from __future__ import annotations

import os
import socket
import sys
from pathlib import Path

import pexpect
import pytest

from focal.app import Focal
from focal.settings import FocalSettings

SUPPORT = Path(__file__).resolve().parents[2] / "configs" / "alignment" / "support"


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    url = f"sqlite:///{tmp_path / 'focal.db'}"
    focal = Focal.open(FocalSettings(database_url=url, data_dir=tmp_path), migrate=True)
    try:
        focal.alignment.import_folder(SUPPORT, "acme", created_by="tests")
    finally:
        focal.close()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("FOCAL_")}
    environment.update(
        FOCAL_DATABASE_URL=url,
        FOCAL_DATA_DIR=str(tmp_path),
        FOCAL_EMBEDDED_DEFAULT="true",  # no provider key: every step on the local provider
        FOCAL_LOCAL_BASE_URL=f"http://127.0.0.1:{_closed_port()}/v1",  # ... whose server is down
        FOCAL_RETRY_MAX_ATTEMPTS="1",
        AGNO_TELEMETRY="false",
    )
    return environment


def _spawn(env: dict[str, str], *args: str) -> pexpect.spawn:
    return pexpect.spawn(
        sys.executable, ["-m", "focal", "chat", *args], env=env, encoding="utf-8", timeout=60, dimensions=(50, 160)
    )


def test_commands_a_failed_turn_and_ctrl_c(env: dict[str, str]) -> None:
    chat = _spawn(env, "--tenant", "acme", "--agent", "support")
    try:
        chat.expect("you>")
        chat.sendline("/why")
        chat.expect("no turn yet")
        chat.sendline("/models")
        chat.expect("generation")
        chat.expect("you>")
        chat.sendline("/nope")
        chat.expect("unknown command /nope")
        chat.sendline("Hi there")
        chat.expect("turn failed:")  # the model's server is down: said, and the chat goes on
        chat.expect("you>")
        chat.sendline("/reset")
        chat.expect("new conversation chat-")
        chat.expect("you>")
        chat.sendintr()
        chat.expect("bye")
        chat.expect(pexpect.EOF)
    finally:
        chat.close()
    assert chat.exitstatus == 0


def test_quit_and_end_of_input_leave(env: dict[str, str]) -> None:
    for leave in ("/quit", None):
        chat = _spawn(env, "--tenant", "acme", "--agent", "support")
        try:
            chat.expect("you>")
            if leave:
                chat.sendline(leave)
            else:
                chat.sendeof()
            chat.expect("bye")
            chat.expect(pexpect.EOF)
        finally:
            chat.close()
        assert chat.exitstatus == 0


def test_an_agent_the_tenant_does_not_have_is_one_clear_error(env: dict[str, str]) -> None:
    chat = _spawn(env, "--tenant", "globex", "--agent", "support")
    try:
        chat.expect("error: ")
        chat.expect(pexpect.EOF)
        output = chat.before
    finally:
        chat.close()
    assert chat.exitstatus == 1
    assert "globex" in output and "Traceback" not in output
