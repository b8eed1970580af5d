"""`Focal.start_local_model` without starting a process: a server named by the environment is used as
it is, and a missing extra is a clear error."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from focal import Focal, FocalSettings
from focal.local import LocalModelMissing


@pytest.fixture
def focal(tmp_path: Path) -> Iterator[Focal]:
    app = Focal.open(FocalSettings(data_dir=tmp_path))
    yield app
    app.close()


@pytest.mark.parametrize("variable", ["FOCAL_LOCAL_BASE_URL", "LLAMA_CPP_BASE_URL"])
async def test_a_server_named_by_the_environment_is_used_as_it_is(
    focal: Focal, monkeypatch: pytest.MonkeyPatch, variable: str
) -> None:
    monkeypatch.setenv(variable, "http://127.0.0.1:9/v1")
    assert await focal.start_local_model() == "http://127.0.0.1:9/v1"
    assert focal.local_server is None


async def test_a_missing_model_file_names_the_setting(tmp_path: Path) -> None:
    app = await Focal.create(FocalSettings(data_dir=tmp_path, local_model_path=tmp_path / "absent.gguf"))
    try:
        with pytest.raises(LocalModelMissing, match=r"absent\.gguf.*FOCAL_LOCAL_MODEL_PATH"):
            await app.start_local_model()
        assert app.local_server is None
        assert app.registry.connection("local").base_url() == "http://127.0.0.1:8080/v1"  # not re-aimed
    finally:
        await app.aclose()


def test_the_embedded_default_follows_the_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOCAL_EMBEDDED_DEFAULT", "true")
    app = Focal.open(FocalSettings(data_dir=tmp_path))
    try:
        assert app.resolver.resolve("acme", "support", "generation").model.provider == "local"
    finally:
        app.close()
    monkeypatch.setenv("FOCAL_EMBEDDED_DEFAULT", "false")
    app = Focal.open(FocalSettings(data_dir=tmp_path))
    try:
        assert app.resolver.resolve("acme", "support", "generation").model.provider == "anthropic"
    finally:
        app.close()
