"""Locate the `configs/` directory from a checkout or an installed wheel."""

from __future__ import annotations

import os
from pathlib import Path

_PACKAGE_DIR = Path(__file__).resolve().parent


def default_config_dir() -> Path:
    """`FOCAL_CONFIG_DIR` if set, else the shipped configs (wheel: `focal/configs`, checkout: `configs/`)."""
    env = os.environ.get("FOCAL_CONFIG_DIR")
    if env:
        return Path(env)
    for candidate in (_PACKAGE_DIR / "configs", _PACKAGE_DIR.parent / "configs"):
        if (candidate / "models.yaml").is_file():
            return candidate
    # Editable installs map `focal.configs` through an import finder, not a directory beside us.
    try:
        from importlib.resources import files

        shipped = Path(str(files("focal.configs")))
        if (shipped / "models.yaml").is_file():
            return shipped
    except (ModuleNotFoundError, TypeError):
        pass
    return _PACKAGE_DIR.parent / "configs"
