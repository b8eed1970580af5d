"""Shared fixtures: the shipped configs, and real databases (SQLite file + PostgreSQL server).

PostgreSQL tests use a throwaway database created on the server named by
`FOCAL_TEST_POSTGRES_URL` (default: postgresql+psycopg://postgres@127.0.0.1:5432/postgres) and
dropped afterwards. Without a reachable server they are skipped with the reason shown, unless
`FOCAL_REQUIRE_POSTGRES=1` (set by .ci/run), which turns the skip into a failure.
"""

from __future__ import annotations

import gc
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url

from focal.routing import AgentCatalogs, ModelRegistry, load_routing_config

# The test process never phones home (Focal itself leaves the environment alone; Agno reads this at every run).
os.environ["AGNO_TELEMETRY"] = "false"

REPO = Path(__file__).resolve().parent.parent
CONFIG_DIR = REPO / "configs"
POSTGRES_URL = os.environ.get("FOCAL_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/postgres")


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No test reads the developer's FOCAL_* or provider settings, or writes into the checkout."""
    for name in list(os.environ):
        if name.startswith("FOCAL_") and name not in ("FOCAL_TEST_POSTGRES_URL", "FOCAL_REQUIRE_POSTGRES"):
            monkeypatch.delenv(name)
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL", "OLLAMA_HOST", "OPENAI_API_KEY", "ANTHROPIC_API_KEY"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("FOCAL_DATA_DIR", str(tmp_path / "data"))
    # No test has provider keys, so with the embedded default every catalog would resolve to the local
    # model: tests resolve as the catalogs say; the embedded default's own tests turn it back on.
    monkeypatch.setenv("FOCAL_EMBEDDED_DEFAULT", "false")


@pytest.fixture(scope="session")
def config_dir() -> Path:
    return CONFIG_DIR


@pytest.fixture(scope="session")
def routing_config() -> tuple[ModelRegistry, AgentCatalogs]:
    return load_routing_config(CONFIG_DIR)


@pytest.fixture(scope="session")
def registry(routing_config: tuple[ModelRegistry, AgentCatalogs]) -> ModelRegistry:
    return routing_config[0]


@pytest.fixture(scope="session")
def catalogs(routing_config: tuple[ModelRegistry, AgentCatalogs]) -> AgentCatalogs:
    return routing_config[1]


def _postgres_reachable() -> str | None:
    try:
        engine = create_engine(POSTGRES_URL)
        with engine.connect() as conn:
            conn.execute(text("select 1"))
        engine.dispose()
        return None
    except Exception as exc:  # any driver error means "not reachable"
        return f"PostgreSQL not reachable at {POSTGRES_URL}: {type(exc).__name__}: {exc}".splitlines()[0]


@pytest.fixture(scope="session")
def postgres_server() -> str:
    """The admin URL of a reachable PostgreSQL server (skip, or fail under FOCAL_REQUIRE_POSTGRES=1)."""
    problem = _postgres_reachable()
    if problem:
        if os.environ.get("FOCAL_REQUIRE_POSTGRES") == "1":
            pytest.fail(problem)
        pytest.skip(problem)
    return POSTGRES_URL


def _throwaway_postgres(admin_url: str) -> Iterator[str]:
    name = f"focal_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    try:
        yield make_url(admin_url).set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """An empty database: a fresh SQLite file, or a throwaway PostgreSQL database."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'focal.db'}"
    else:
        yield from _throwaway_postgres(request.getfixturevalue("postgres_server"))


@pytest.fixture(scope="module", autouse=True)
def _garbage_collected_per_module() -> Iterator[None]:
    """Collect garbage at the end of each module, so a resource one leaks (e.g. a database connection
    never returned, which SQLAlchemy reports when it is collected) fails that module, not a later one."""
    yield
    gc.collect()
