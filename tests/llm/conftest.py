"""`-m llm`: tests on the real local model (llama-cpp-python's server with the bundled SmolLM2-135M).

The server is started once per test session (`local_server`) and stopped at its end. They assert shape
(parsed schemas, a tool was called, a run completed), never wording: the model has 135M parameters.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from focal.local import LocalModelServer, acquire_shared_server, release_shared_server


def process_state(pid: int) -> str | None:
    """The kernel's state letter of a process (`R`, `S`, `Z`...), None once it is gone."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return stat.rsplit(")", 1)[1].split()[0]


def is_alive(pid: int) -> bool:
    """Running (a zombie waiting to be reaped has stopped running: it counts as gone)."""
    return process_state(pid) not in (None, "Z", "X")


@pytest.fixture(scope="package")
def local_server() -> Iterator[LocalModelServer]:
    """This process's shared server, started once for these tests (`Focal.start_local_model()` in them
    reuses it) and released after them: the unit tests of the shared server find none left."""
    server = acquire_shared_server()
    try:
        server.start()
        yield server
    finally:
        release_shared_server(server)
    assert server.pid is None
