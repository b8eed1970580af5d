"""`focal telemetry export FILE` to what FILE may be: a symlink, a FIFO, a directory, a socket.

A regular file is replaced whole; a symlink's target is written (the link stays); a FIFO is written
directly (it stays a FIFO); anything else is refused in one line. (No real device node is touched.)
"""

from __future__ import annotations

import json
import os
import socket
import stat
import threading
from decimal import Decimal
from pathlib import Path

import pytest
from typer.testing import CliRunner

from focal.cli import app
from focal.storage import make_async_engine, upgrade
from focal.telemetry import LLMCallRecord, TelemetryStore, WorkflowRunRecord

runner = CliRunner()


@pytest.fixture
async def db(database_url: str, tmp_path: Path) -> tuple[str, ...]:
    upgrade(database_url)
    engine = make_async_engine(database_url)
    store = TelemetryStore(engine, spill_dir=tmp_path / "spill")
    for i in range(2):
        store.record_call(
            LLMCallRecord(
                tenant_id="acme",
                agent_id="support",
                step_name="generation",
                provider="openai",
                tier="cheap",
                model_id=f"m{i}",
                cost_usd=Decimal("0.001"),
            )
        )
    store.record_run(WorkflowRunRecord(tenant_id="acme", agent_id="support", workflow_name="alignment"))
    await store.aclose()
    await engine.dispose()
    return ("--database-url", database_url, "telemetry", "export")


def export(db: tuple[str, ...], file: Path) -> dict:
    result = runner.invoke(app, [*db, str(file), "--json"])
    assert result.exit_code == 0, result.stderr
    (counts,) = json.loads(result.stdout)
    return counts


def exported_types(text: str) -> list[str]:
    return [json.loads(line)["type"] for line in text.splitlines()]


def refused(db: tuple[str, ...], file: Path) -> str:
    result = runner.invoke(app, [*db, str(file)])
    assert result.exit_code == 1 and "Traceback" not in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    return result.stderr


def test_a_regular_file_is_replaced_whole_and_keeps_its_permissions(db: tuple[str, ...], tmp_path: Path) -> None:
    out = tmp_path / "out.jsonl"
    out.write_text("old\n")
    out.chmod(0o640)
    assert export(db, out) == {"file": str(out), "calls": 2, "runs": 1}
    assert exported_types(out.read_text()) == ["call", "call", "run"]
    assert stat.S_IMODE(out.stat().st_mode) == 0o640
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("out")) == ["out.jsonl"]


def test_a_symlink_is_followed_and_stays_a_symlink(db: tuple[str, ...], tmp_path: Path) -> None:
    (tmp_path / "real").mkdir()
    target = tmp_path / "real" / "target.jsonl"
    target.write_text("old\n")
    link = tmp_path / "link.jsonl"
    link.symlink_to(target)
    export(db, link)
    assert link.is_symlink() and link.resolve() == target.resolve()
    assert exported_types(target.read_text()) == ["call", "call", "run"]
    assert [p.name for p in (tmp_path / "real").iterdir()] == ["target.jsonl"]  # no temporary file left

    dangling = tmp_path / "dangling.jsonl"
    dangling.symlink_to(tmp_path / "real" / "new.jsonl")
    export(db, dangling)
    assert dangling.is_symlink() and exported_types((tmp_path / "real" / "new.jsonl").read_text())[-1] == "run"


def test_a_fifo_is_written_directly(db: tuple[str, ...], tmp_path: Path) -> None:
    fifo = tmp_path / "pipe.jsonl"
    os.mkfifo(fifo)
    received: list[str] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_text()), daemon=True)
    reader.start()
    export(db, fifo)
    reader.join(timeout=10)
    assert exported_types(received[0]) == ["call", "call", "run"]
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)  # still the FIFO, not a file put in its place
    assert sorted(p.name for p in tmp_path.iterdir() if p.name.startswith("pipe")) == ["pipe.jsonl"]


def test_a_directory_or_a_socket_is_refused(
    db: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "dir").mkdir()
    assert refused(db, tmp_path / "dir") == f"error: cannot write {tmp_path / 'dir'}: it is a directory\n"
    monkeypatch.chdir(tmp_path)  # a short relative path: socket paths are limited to ~100 bytes
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind("s.sock")
        message = refused(db, Path("s.sock"))
        assert message.startswith("error: cannot write s.sock: not a regular file")
        assert stat.S_ISSOCK(os.lstat("s.sock").st_mode)
    link = tmp_path / "to-dir"
    link.symlink_to(tmp_path / "dir")
    assert "it is a directory" in refused(db, link)


def test_a_redirected_stdout_is_appended_to_not_replaced(db: tuple[str, ...], tmp_path: Path) -> None:
    import subprocess
    import sys

    log = tmp_path / "out.log"
    log.write_text("earlier line\n")
    inode = log.stat().st_ino
    with log.open("a") as out:  # `focal telemetry export /dev/stdout >> out.log`
        done = subprocess.run(
            [sys.executable, "-m", "focal", *db, "/dev/stdout"], stdout=out, stderr=subprocess.PIPE, text=True
        )
    assert done.returncode == 0, done.stderr
    assert log.stat().st_ino == inode  # the same file, not one renamed over it
    lines = log.read_text().splitlines()
    assert lines[0] == "earlier line" and exported_types("\n".join(lines[1:4])) == ["call", "call", "run"]
