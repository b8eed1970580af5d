"""A non-editable install: the wheel maps workflows/agents/tools/configs under `focal`, and works."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", "-w", str(out), str(REPO)],
        check=True,
        cwd=out,
    )
    (built,) = out.glob("focal-*.whl")
    return built


def test_wheel_layout(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    for expected in (
        "focal/__init__.py",
        "focal/workflows/__init__.py",
        "focal/agents/__init__.py",
        "focal/tools/__init__.py",
        "focal/configs/models.yaml",
        "focal/configs/agents/support.yaml",
        "focal/configs/agents/research.yaml",
        "focal/storage/migrations/env.py",
        "focal/storage/migrations/script.py.mako",
        "focal/storage/migrations/versions/0001_routing.py",
    ):
        assert expected in names, expected
    top_level = {n.split("/")[0] for n in names if not n.split("/")[0].endswith(".dist-info")}
    assert top_level == {"focal"}, top_level


def test_installed_copy_finds_configs_and_migrates(wheel: Path, tmp_path: Path) -> None:
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)], check=True
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("FOCAL_")}
    env.update(PYTHONPATH=str(target), FOCAL_DATA_DIR=str(tmp_path / "data"))
    script = (
        "import focal, focal.workflows, focal.agents, focal.tools\n"
        "from focal.settings import FocalSettings\n"
        "s = FocalSettings()\n"
        "print(focal.__file__); print(focal.workflows.__file__); print(s.resolved_config_dir)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", script], env=env, cwd=tmp_path, capture_output=True, text=True, check=True
    ).stdout.split()
    assert all(line.startswith(str(target)) for line in out), out
    for args in (["db", "upgrade"], ["models", "validate"], ["models", "resolve", "-t", "t1", "-a", "support"]):
        done = subprocess.run(
            [sys.executable, "-m", "focal", *args], env=env, cwd=tmp_path, capture_output=True, text=True
        )
        assert done.returncode == 0, (args, done.stderr)
    assert (tmp_path / "data" / "focal.db").is_file()
