"""Public surfaces of routing and storage, and which way imports may point."""

from __future__ import annotations

import ast
import importlib
import inspect
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FOCAL = ROOT / "focal"
APP_PACKAGES = ("workflows", "agents", "tools")
# DESIGN.md: nothing in focal/ imports the application packages except the composition root, the CLI.
COMPOSITION_ROOTS = ("focal/cli/", "focal/app.py")


@pytest.mark.parametrize("package", ["focal.routing", "focal.storage"])
def test_every_public_name_is_importable(package: str) -> None:
    module = importlib.import_module(package)
    names = module.__all__
    assert len(names) == len(set(names)), "duplicates in __all__"
    namespace: dict[str, object] = {}
    exec(f"from {package} import {', '.join(names)}", namespace)  # the way users import them
    for name in names:
        obj = namespace[name]
        assert obj is getattr(module, name)
        if inspect.isclass(obj) or inspect.isfunction(obj):
            assert obj.__module__.startswith(package + "."), f"{package}.{name} comes from {obj.__module__}"


def test_star_import_gives_exactly_the_public_names() -> None:
    for package in ("focal.routing", "focal.storage"):
        namespace: dict[str, object] = {}
        exec(f"from {package} import *", namespace)
        assert set(namespace) - {"__builtins__"} == set(importlib.import_module(package).__all__)


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _imports(path: Path, module: str | None = None) -> set[str]:
    """Every module `path` imports: absolute, relative (resolved), and `import_module("...")` literals."""
    tree = ast.parse(path.read_text(), filename=str(path))
    module = module or _module_name(path)
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - (node.level - 1)]
                target = ".".join(base) + (f".{node.module}" if node.module else "")
                names.add(target)
                names.update(f"{target}.{alias.name}" for alias in node.names)
            elif node.module:
                names.add(node.module)
                names.update(f"{node.module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Call):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and node.args and isinstance(node.args[0], ast.Constant):
                names.add(str(node.args[0].value))
    return names


def _is_under(name: str, package: str) -> bool:
    return name == package or name.startswith(package + ".")


def test_the_scanner_sees_every_import_form(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        "import time\n"
        "from focal import workflows\n"
        "from ..execution import resilient\n"
        "from . import catalogs\n"
        "import importlib\n"
        "importlib.import_module('focal.providers')\n"
    )
    found = _imports(sample, module="focal.routing.sample")
    assert {
        "time",
        "focal.workflows",
        "focal.execution",
        "focal.execution.resilient",
        "focal.routing.catalogs",
        "focal.providers",
    } <= found
    assert {"focal.routing.catalogs", "focal.errors", "time"} <= _imports(FOCAL / "routing" / "resolver.py")


def test_no_focal_module_imports_the_application_packages() -> None:
    offenders = []
    for path in sorted(FOCAL.rglob("*.py")):
        if path.relative_to(ROOT).as_posix().startswith(COMPOSITION_ROOTS):
            continue
        for name in _imports(path):
            for app in APP_PACKAGES:
                if _is_under(name, app) or _is_under(name, f"focal.{app}"):
                    offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_routing_does_not_import_execution_or_providers() -> None:
    offenders = []
    for path in sorted((FOCAL / "routing").rglob("*.py")):
        for name in _imports(path):
            if any(_is_under(name, p) for p in ("focal.execution", "focal.providers", "focal.app", "agno")):
                offenders.append(f"{path.relative_to(ROOT)} imports {name}")
    assert offenders == []


def test_importing_routing_and_storage_loads_no_execution_providers_or_sdks() -> None:
    code = (
        "import sys, focal.routing, focal.storage\n"
        "bad = ('focal.execution', 'focal.providers', 'focal.app', 'agno', 'openai', 'anthropic', 'ollama',\n"
        "       'workflows', 'agents', 'tools', 'focal.workflows', 'focal.agents', 'focal.tools')\n"
        "print(sorted(m for m in sys.modules if any(m == b or m.startswith(b + '.') for b in bad)))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
