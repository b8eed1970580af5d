"""A copy of the shipped support folder per test, to break one thing at a time."""

from __future__ import annotations

import shutil
from collections.abc import Callable
from pathlib import Path

import pytest
from focal.tools import shipped_catalog

from focal.alignment import ToolCatalog

SUPPORT = Path(__file__).resolve().parents[3] / "configs" / "alignment" / "support"


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    target = tmp_path / "support"
    shutil.copytree(SUPPORT, target)
    return target


@pytest.fixture
def catalog() -> ToolCatalog:
    return shipped_catalog()


@pytest.fixture
def edit(folder: Path) -> Callable[[str, str, str], Path]:
    """Replace `old` by `new` in one file of the folder (exactly once)."""

    def replace(file: str, old: str, new: str) -> Path:
        path = folder / file
        text = path.read_text()
        assert text.count(old) == 1, f"{old!r} is not once in {file}"
        path.write_text(text.replace(old, new))
        return path

    return replace
