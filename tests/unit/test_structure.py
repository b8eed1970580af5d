"""Review rules as tests: public surfaces, import direction, settings, logging context."""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

from focal import FocalSettings
from focal._config_dir import default_config_dir

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = [
    "focal.routing",
    "focal.storage",
    "focal.execution",
    "focal.telemetry",
    "focal.providers",
    "focal.logging",
    "focal.local",
]


@pytest.mark.parametrize("package", PACKAGES)
def test_public_surface_is_importable(package: str) -> None:
    module = importlib.import_module(package)
    assert module.__all__, package
    for name in module.__all__:
        assert hasattr(module, name), f"{package}.{name}"


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_import_direction() -> None:
    forbidden_everywhere = ("workflows", "agents", "tools", "focal.workflows", "focal.agents", "focal.tools")
    for path in (ROOT / "focal").rglob("*.py"):
        imports = _imports(path)
        rel = path.relative_to(ROOT).as_posix()
        if not rel.startswith(("focal/cli/", "focal/app.py")):  # the composition roots (DESIGN.md)
            assert not any(i == f or i.startswith(f + ".") for i in imports for f in forbidden_everywhere), rel
        if rel.startswith("focal/routing/"):
            assert not any(i.startswith(("focal.execution", "focal.providers", "focal.telemetry")) for i in imports), (
                rel
            )
        if rel.startswith("focal/telemetry/"):
            assert not any(i.startswith("focal.execution") for i in imports), rel


def test_provider_sdks_only_in_provider_modules() -> None:
    for path in (ROOT / "focal").rglob("*.py"):
        rel = path.relative_to(ROOT).as_posix()
        sdk = {i.split(".")[0] for i in _imports(path)} & {"openai", "anthropic", "ollama"}
        if sdk:
            assert rel.startswith("focal/providers/_"), rel


def test_settings_defaults_and_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("FOCAL_DATA_DIR", str(tmp_path / "d"))
    s = FocalSettings()
    assert s.resolved_database_url == f"sqlite:///{(tmp_path / 'd' / 'focal.db').as_posix()}"
    assert s.resolved_config_dir == ROOT / "configs"
    monkeypatch.setenv("FOCAL_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("FOCAL_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("FOCAL_DEFAULT_TASK_TIER", "cheap")
    s = FocalSettings()
    assert s.resolved_database_url == "postgresql+psycopg://u@h/db"
    assert s.resolved_config_dir == tmp_path and default_config_dir() == tmp_path
    assert s.default_task_tier == "cheap"


HOST_STATE_WRITES = {
    "os.environ.setdefault",
    "os.environ.update",
    "os.environ.pop",
    "os.environ.clear",
    "os.putenv",
    "os.unsetenv",
    "structlog.configure",
    "structlog.configure_once",
    "logging.basicConfig",
    "logging.config.dictConfig",
    "logging.config.fileConfig",
}
# where the host's process state may be written: the CLI owns its process; `configure_logging` is opt-in
HOST_STATE_WRITERS = {"focal/cli/__init__.py", "focal/logging/_setup.py"}


@pytest.mark.parametrize("path", sorted((ROOT / "focal").rglob("*.py")), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_focal_leaves_the_hosts_environment_and_logging_alone(path: Path) -> None:
    # AGNO_TELEMETRY=false is set by the `focal` CLI for its own process; as a library Focal passes
    # `telemetry=False` to each Agno object (tests/integration/test_host_process.py runs both)
    rel = path.relative_to(ROOT).as_posix()
    if rel in HOST_STATE_WRITERS:
        return
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Assign | ast.AugAssign | ast.Delete):
            targets = node.targets if isinstance(node, ast.Assign | ast.Delete) else [node.target]
            assert not any(ast.unparse(t).startswith("os.environ[") for t in targets), f"{rel}:{node.lineno}"
        if isinstance(node, ast.Call):
            assert ast.unparse(node.func) not in HOST_STATE_WRITES, f"{rel}:{node.lineno} {ast.unparse(node.func)}"


def test_log_context_is_bound_and_restored() -> None:
    from focal.logging import bind_context, current_context

    with bind_context(tenant_id="acme", step="generation"):
        with bind_context(session_id="s1", step="enforcement"):
            assert current_context() == {"tenant_id": "acme", "step": "enforcement", "session_id": "s1"}
        assert current_context() == {"tenant_id": "acme", "step": "generation"}
    assert current_context() == {}
