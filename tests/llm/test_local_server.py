"""The local model server's lifecycle on the real llama.cpp server: it answers, and it never outlives
what started it (a stop, an exception in the `with` block, SIGINT or SIGKILL to the parent process)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import urllib.request
from pathlib import Path

import pytest

from focal.local import LocalModelError, LocalModelServer
from tests.llm.conftest import is_alive

pytestmark = pytest.mark.llm

ROOT = Path(__file__).resolve().parents[2]


def _gone_within(pid: int, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not is_alive(pid):
            return True
        time.sleep(0.05)
    return not is_alive(pid)


def test_start_answers_then_stop_ends_the_process() -> None:
    progress: list[str] = []
    server = LocalModelServer().start(progress.append)
    pid = server.pid
    assert pid is not None and server.running
    try:
        with urllib.request.urlopen(server.base_url + "/models", timeout=5) as response:
            models = json.load(response)
        assert [m["id"] for m in models["data"]] == [server.alias]
        assert os.getpgid(pid) == pid  # its own process group
        assert progress[0].startswith("starting the local model") and progress[-1].startswith("local model ready")
        assert server.ready_seconds is not None
    finally:
        server.stop()
    assert server.pid is None and not server.running
    assert _gone_within(pid, 1)
    server.stop()  # a second stop is a no-op


async def test_an_exception_inside_async_with_stops_the_server() -> None:
    pid = None
    with pytest.raises(RuntimeError, match="boom"):
        async with LocalModelServer() as server:
            pid = server.pid
            assert pid is not None and is_alive(pid)
            raise RuntimeError("boom")
    assert pid is not None and _gone_within(pid, 1)


def test_a_server_that_dies_while_starting_reports_its_stderr(tmp_path: Path) -> None:
    bogus = tmp_path / "not-a-model.gguf"
    bogus.write_bytes(b"this is not a GGUF file")
    server = LocalModelServer(bogus, ready_timeout_seconds=60)
    with pytest.raises(LocalModelError, match="exited with code") as caught:
        server.start()
    assert "not-a-model.gguf" in str(caught.value) or "gguf" in str(caught.value).lower()  # the server's own words
    assert server.pid is None


_CHILD = textwrap.dedent(
    """
    import sys, time
    from focal.local import LocalModelServer
    server = LocalModelServer().start()
    print(server.pid, flush=True)
    time.sleep(120)
    """
)


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGKILL], ids=lambda s: s.name)
def test_the_server_does_not_outlive_its_parent_process(sig: signal.Signals) -> None:
    """SIGINT: the parent's atexit stops it by PID; SIGTERM / SIGKILL (no handler runs): the server sees its
    parent gone and exits."""
    parent = subprocess.Popen(
        [sys.executable, "-c", _CHILD],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    try:
        assert parent.stdout is not None
        line = parent.stdout.readline().decode().strip()
        assert line, "the child process did not start its server"
        server_pid = int(line)
        assert is_alive(server_pid)
        parent.send_signal(sig)
        parent.wait(timeout=30)
        assert _gone_within(server_pid, 10), f"server {server_pid} outlived its parent after {sig.name}"
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()


_FOCAL_CHILD = textwrap.dedent(
    """
    import asyncio, sys
    from pathlib import Path
    from focal import Focal, FocalSettings

    async def main() -> None:
        focal = await Focal.create(FocalSettings(data_dir=Path(sys.argv[1])))
        await focal.start_local_model()
        print(focal.local_server.pid, flush=True)
        if sys.argv[2] == "close":
            await focal.aclose()
            print("closed", flush=True)
        else:
            raise RuntimeError("a turn failed")  # no aclose: the process ends on an error

    asyncio.run(main())
    """
)


@pytest.mark.parametrize("ending", ["close", "error"])
def test_focal_stops_the_server_it_started(tmp_path: Path, ending: str) -> None:
    """`Focal.aclose()` stops it; a process ending on an uncaught error stops it at exit."""
    child = subprocess.run(
        [sys.executable, "-c", _FOCAL_CHILD, str(tmp_path), ending],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT), "FOCAL_EMBEDDED_DEFAULT": "true"},
        timeout=120,
    )
    lines = child.stdout.split()
    assert lines, child.stderr
    server_pid = int(lines[0])
    if ending == "close":
        assert child.returncode == 0 and lines[1:] == ["closed"], child.stderr
    else:
        assert child.returncode == 1 and "a turn failed" in child.stderr
    assert _gone_within(server_pid, 5)
