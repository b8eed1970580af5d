"""`python -m focal.local._child PARENT_PID ARGS...`: run `llama_cpp.server` with ARGS in this process,
and exit as soon as the process that started it is gone (killed, or ended without stopping it).

Focal stops its server on exit and on errors; this watch covers the deaths no handler sees (SIGKILL,
SIGTERM or SIGHUP with their default action), so no server outlives its Focal process.
"""

from __future__ import annotations

import os
import runpy
import signal
import sys
import threading
import time

WATCH_INTERVAL_SECONDS = 0.5


def _watch(parent: int) -> None:
    while os.getppid() == parent:
        time.sleep(WATCH_INTERVAL_SECONDS)
    os.killpg(os.getpgrp(), signal.SIGTERM)  # the server leads its own group: itself and any child
    time.sleep(5)
    os._exit(1)


def main() -> None:
    """Start the parent watch, then the server (its own command line parser reads the rest of argv)."""
    parent = int(sys.argv[1])
    sys.argv = ["llama_cpp.server", *sys.argv[2:]]
    threading.Thread(target=_watch, args=(parent,), name="focal-parent-watch", daemon=True).start()
    runpy.run_module("llama_cpp.server", run_name="__main__", alter_sys=True)
