"""`LocalModelServer`: llama-cpp-python's OpenAI-compatible server as a managed child process.

The server runs `python -m llama_cpp.server` (this interpreter) on a free 127.0.0.1 port, in its own
process group, with the settings measured for 2 cores (shared/reference/local-llm.md): ChatML with
function calling, no per-token logits kept, 2 threads. It is stopped by its process group id: by
`stop()`, on the way out of a `with` block (errors included), at interpreter exit (`atexit`: a normal
exit, an uncaught exception, Ctrl-C). Deaths no handler sees (SIGKILL, a default SIGTERM) are covered
by the child itself, which exits when its parent is gone (`focal.local._child`). No signal handler of
the host is replaced.

One server per process: `acquire_shared_server()` / `release_shared_server()` count their users.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import IO

from focal.local._errors import LocalModelError
from focal.local._weights import MODEL_ALIAS, model_path, require_server

__all__ = ["LocalModelServer", "Progress", "acquire_shared_server", "release_shared_server"]

Progress = Callable[[str], None]
"""Called with a short status line while the server starts (e.g. to drive a spinner)."""

HOST = "127.0.0.1"
POLL_SECONDS = 0.1
STDERR_TAIL_CHARS = 2000
PROMPT_CACHE_BYTES = 512 * 2**20
"""RAM for the server's prompt cache (a full 2048-token state of SmolLM2-135M is about 50 MB)."""


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


_NO_PROXY = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # loopback: never through a proxy


class LocalModelServer:
    """One llama.cpp server process (start it with `start()` / `await astart()`, or `with` / `async with`).

    Args:
        model_file: the GGUF file to serve; None: the bundled weights (`focal[local]`).
        alias: the model's name on the server (the `local` provider's model id).
        n_ctx: context window in tokens.
        threads: threads for generation and for prompt processing.
        ready_timeout_seconds: how long `start` waits for the server to answer.
    """

    def __init__(
        self,
        model_file: Path | str | None = None,
        *,
        alias: str = MODEL_ALIAS,
        n_ctx: int = 2048,
        threads: int = 2,
        ready_timeout_seconds: float = 60.0,
    ) -> None:
        self.model_file = Path(model_file) if model_file is not None else None
        self.alias = alias
        self.n_ctx = n_ctx
        self.threads = threads
        self.ready_timeout_seconds = ready_timeout_seconds
        self.ready_seconds: float | None = None
        """How long the last start took until the server answered."""
        self._process: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._port: int | None = None
        self._ready = False
        self._began = 0.0
        self._spawn_lock = threading.Lock()

    # --- state ---------------------------------------------------------------------------------

    @property
    def pid(self) -> int | None:
        """The server's process id (also its process group id) while it runs."""
        return self._process.pid if self._process is not None else None

    @property
    def port(self) -> int | None:
        """The loopback port it listens on while it runs."""
        return self._port if self._process is not None else None

    @property
    def base_url(self) -> str:
        """The OpenAI-compatible base URL (`http://127.0.0.1:PORT/v1`).

        Raises:
            LocalModelError: the server is not started.
        """
        if self._process is None or self._port is None:
            raise LocalModelError("the local model server is not started")
        return f"http://{HOST}:{self._port}/v1"

    @property
    def running(self) -> bool:
        """Started, answering, and its process still alive."""
        return self._ready and self._process is not None and self._process.poll() is None

    def command(self, model_file: Path, port: int) -> list[str]:
        """The server's command line."""
        return [
            sys.executable,
            "-m",
            "focal.local._child",
            str(os.getpid()),
            "--model",
            str(model_file),
            "--model_alias",
            self.alias,
            "--host",
            HOST,
            "--port",
            str(port),
            "--n_ctx",
            str(self.n_ctx),
            "--n_threads",
            str(self.threads),
            "--n_threads_batch",
            str(self.threads),
            "--chat_format",
            "chatml-function-calling",
            "--logits_all",
            "False",
            # the prompts' states are kept (up to PROMPT_CACHE_BYTES): a step's instructions and the
            # tenant's rules are read once, not on every call (a 800-token prompt: ~3 s -> ~0.4 s on 2 cores)
            "--cache",
            "True",
            "--cache_size",
            str(PROMPT_CACHE_BYTES),
            "--verbose",
            "False",
        ]

    # --- start ---------------------------------------------------------------------------------

    def start(self, progress: Progress | None = None) -> LocalModelServer:
        """Start the server (no-op when running) and wait until it answers.

        Raises:
            LocalModelMissing: llama-cpp-python's server or the weights are not installed.
            LocalModelError: the server exited (with the end of its stderr) or did not answer in time.
        """
        if self.running:
            return self
        began = self._spawn(progress)
        try:
            while not self._answers():
                self._check_waiting(began, progress)
                time.sleep(POLL_SECONDS)
        except BaseException:
            self.stop()
            raise
        return self._became_ready(began, progress)

    async def astart(self, progress: Progress | None = None) -> LocalModelServer:
        """Async `start` (the event loop keeps running while the model loads; cancelling it stops the server)."""
        if self.running:
            return self
        began = self._spawn(progress)
        try:
            while not await asyncio.to_thread(self._answers):
                self._check_waiting(began, progress)
                await asyncio.sleep(POLL_SECONDS)
        except BaseException:
            self.stop()
            raise
        return self._became_ready(began, progress)

    def _spawn(self, progress: Progress | None) -> float:
        """Start the process unless a start is under way; returns when it began."""
        with self._spawn_lock:
            if self._process is not None and self._process.poll() is None:
                return self._began  # another caller started it: wait for the same process
            require_server()
            gguf = model_path(self.model_file)
            self._port = _free_port()
            self._stderr = tempfile.TemporaryFile(prefix="focal-llama-server-")  # noqa: SIM115 (closed by stop)
            self._began = time.monotonic()
            self._ready = False
            self._process = subprocess.Popen(
                self.command(gguf, self._port),
                stdin=subprocess.DEVNULL,
                stdout=subprocess.DEVNULL,
                stderr=self._stderr,
                start_new_session=True,  # its own process group: stopped as a whole, not hit by the terminal's ^C
            )
            _RUNNING.add(self)
        if progress is not None:
            progress(f"starting the local model ({gguf.name}) on {HOST}:{self._port}")
        return self._began

    def _answers(self) -> bool:
        port = self._port
        if port is None:
            return False
        try:
            with _NO_PROXY.open(f"http://{HOST}:{port}/v1/models", timeout=1.0) as response:
                return bool(response.status == 200)
        except (urllib.error.URLError, OSError, ValueError):
            return False

    def _check_waiting(self, began: float, progress: Progress | None) -> None:
        process = self._process
        if process is None:
            raise LocalModelError("the local model server was stopped while it started")
        code = process.poll()
        if code is not None:
            raise LocalModelError(
                f"the local model server exited with code {code} while starting:\n{self.stderr_tail()}"
            )
        elapsed = time.monotonic() - began
        if elapsed > self.ready_timeout_seconds:
            raise LocalModelError(
                f"the local model server did not answer within {self.ready_timeout_seconds:g} s:\n{self.stderr_tail()}"
            )
        if progress is not None:
            progress(f"loading the local model ({elapsed:.1f} s)")

    def _became_ready(self, began: float, progress: Progress | None) -> LocalModelServer:
        self._ready = True
        self.ready_seconds = time.monotonic() - began
        if progress is not None:
            progress(f"local model ready at {self.base_url} in {self.ready_seconds:.1f} s")
        return self

    def stderr_tail(self) -> str:
        """The end of what the server wrote to stderr (empty when nothing)."""
        if self._stderr is None or self._stderr.closed:
            return ""
        with contextlib.suppress(OSError):
            self._stderr.flush()
            self._stderr.seek(0, os.SEEK_END)
            size = self._stderr.tell()
            self._stderr.seek(max(0, size - STDERR_TAIL_CHARS))
            return self._stderr.read().decode("utf-8", "replace").strip()
        return ""

    # --- stop ----------------------------------------------------------------------------------

    def stop(self, timeout_seconds: float = 5.0) -> None:
        """Stop the server's process group (SIGTERM, then SIGKILL after `timeout_seconds`); no-op when stopped."""
        with self._spawn_lock:
            process, self._process, self._ready = self._process, None, False
            _RUNNING.discard(self)
        if process is not None:
            _kill_group(process, timeout_seconds)
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    async def astop(self, timeout_seconds: float = 5.0) -> None:
        """Async `stop` (waiting for the process happens in a worker thread)."""
        await asyncio.to_thread(self.stop, timeout_seconds)

    def __enter__(self) -> LocalModelServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> LocalModelServer:
        return await self.astart()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.astop()

    def __repr__(self) -> str:
        state = f"pid={self.pid} port={self.port}" if self._process is not None else "stopped"
        return f"LocalModelServer({self.alias!r}, {state})"


def _kill_group(process: subprocess.Popen[bytes], timeout_seconds: float) -> None:
    for sig in (signal.SIGTERM, signal.SIGKILL):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(process.pid, sig)
        try:
            process.wait(timeout=timeout_seconds)
            return
        except subprocess.TimeoutExpired:
            continue
    process.wait()


# --- every server of this process is stopped at exit ---------------------------------------------

_RUNNING: set[LocalModelServer] = set()


@atexit.register
def stop_all_servers() -> None:
    """Stop every server this process started (at exit; a CLI's last resort after Ctrl-C)."""
    for server in list(_RUNNING):
        server.stop()


# --- the process's shared server -------------------------------------------------------------------

_shared_lock = threading.Lock()
_shared: LocalModelServer | None = None
_shared_users = 0


def acquire_shared_server(model_file: Path | str | None = None) -> LocalModelServer:
    """This process's one local server (created on first use), with one more user; start it next.

    Every `acquire_shared_server` is matched by a `release_shared_server`: the last release stops it.

    Raises:
        LocalModelError: the shared server already serves another model file.
    """
    global _shared, _shared_users
    wanted = Path(model_file).expanduser() if model_file is not None else None
    with _shared_lock:
        if _shared is None:
            _shared = LocalModelServer(wanted)
        elif _shared.model_file != wanted:
            raise LocalModelError(
                f"this process's local model server serves {_shared.model_file or 'the bundled model'}, "
                f"not {wanted or 'the bundled model'}: one local model per process"
            )
        _shared_users += 1
        return _shared


def release_shared_server(server: LocalModelServer) -> bool:
    """One user less of the shared server; the last one stops it. Returns whether it was stopped."""
    global _shared, _shared_users
    with _shared_lock:
        if server is not _shared or _shared_users == 0:
            return False
        _shared_users -= 1
        if _shared_users:
            return False
        _shared = None
    server.stop()
    return True
