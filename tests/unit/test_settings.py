"""`FocalSettings`: defaults, the FOCAL_* environment, and where the configs are found."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from pydantic import ValidationError

from focal import FocalSettings
from focal._config_dir import default_config_dir
from focal.routing import Tier, load_routing_config
from focal.storage import current_revision, head_revision, upgrade

REPO = Path(__file__).resolve().parents[2]


def test_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("FOCAL_DATA_DIR")
    s = FocalSettings()
    assert s.data_dir == Path(".focal")
    assert s.resolved_database_url == "sqlite:///.focal/focal.db"
    assert s.resolved_config_dir == REPO / "configs"
    assert (s.log_format, s.log_level) == ("console", "info")
    assert (s.resolver_cache_ttl_seconds, s.resolver_cache_max_entries) == (5.0, 200_000)
    assert s.default_task_tier is None


def test_sqlite_file_under_the_data_dir(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "state" / "focal"
    monkeypatch.setenv("FOCAL_DATA_DIR", str(data))
    s = FocalSettings()
    assert s.data_dir == data
    assert s.resolved_database_url == f"sqlite:///{(data / 'focal.db').as_posix()}"
    # the default URL works as is: the directory is created on first use
    assert upgrade(s.resolved_database_url) == (None, head_revision())
    assert (data / "focal.db").is_file()
    assert current_revision(s.resolved_database_url) == head_revision()


def test_environment_is_honoured(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOCAL_DATABASE_URL", "postgresql+psycopg://u@h:5432/db")
    monkeypatch.setenv("FOCAL_CONFIG_DIR", str(tmp_path))
    monkeypatch.setenv("FOCAL_DEFAULT_TASK_TIER", "premium")
    monkeypatch.setenv("FOCAL_RESOLVER_CACHE_TTL_SECONDS", "0.5")
    monkeypatch.setenv("FOCAL_RESOLVER_CACHE_MAX_ENTRIES", "10")
    monkeypatch.setenv("FOCAL_LOG_FORMAT", "json")
    monkeypatch.setenv("FOCAL_LOG_LEVEL", "debug")
    monkeypatch.setenv("FOCAL_SOMETHING_ELSE", "ignored")  # unknown FOCAL_* variables are not an error
    s = FocalSettings()
    assert s.resolved_database_url == "postgresql+psycopg://u@h:5432/db"
    assert s.resolved_config_dir == tmp_path
    assert default_config_dir() == tmp_path
    assert s.default_task_tier is Tier.PREMIUM
    assert (s.resolver_cache_ttl_seconds, s.resolver_cache_max_entries) == (0.5, 10)
    assert (s.log_format, s.log_level) == ("json", "debug")


def test_explicit_values_beat_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOCAL_DATABASE_URL", "postgresql+psycopg://u@h/db")
    monkeypatch.setenv("FOCAL_CONFIG_DIR", str(tmp_path / "env"))
    s = FocalSettings(database_url="sqlite:///x.db", config_dir=tmp_path / "explicit")
    assert (s.resolved_database_url, s.resolved_config_dir) == ("sqlite:///x.db", tmp_path / "explicit")


def test_empty_database_url_means_the_default(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FOCAL_DATABASE_URL", "")
    assert FocalSettings().resolved_database_url == f"sqlite:///{(tmp_path / 'data' / 'focal.db').as_posix()}"


@pytest.mark.parametrize(
    ("variable", "value", "field"),
    [
        ("FOCAL_RESOLVER_CACHE_TTL_SECONDS", "-1", "resolver_cache_ttl_seconds"),
        ("FOCAL_RESOLVER_CACHE_MAX_ENTRIES", "0", "resolver_cache_max_entries"),
        ("FOCAL_DEFAULT_TASK_TIER", "gold", "default_task_tier"),
        ("FOCAL_LOG_FORMAT", "xml", "log_format"),
        ("FOCAL_LOG_LEVEL", "trace", "log_level"),
    ],
)
def test_bad_values_are_refused_naming_the_field(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, field: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValidationError) as info:
        FocalSettings()
    assert [e["loc"] for e in info.value.errors()] == [(field,)]


def test_default_config_dir_finds_the_shipped_configs() -> None:
    found = default_config_dir()
    assert found == REPO / "configs"
    assert (found / "models.yaml").is_file() and (found / "agents" / "support.yaml").is_file()


def test_settings_config_dir_loads(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    shutil.copytree(REPO / "configs", tmp_path / "cfg")
    (tmp_path / "cfg" / "agents" / "research.yaml").unlink()
    monkeypatch.setenv("FOCAL_CONFIG_DIR", str(tmp_path / "cfg"))
    s = FocalSettings()
    _, catalogs = load_routing_config(s.resolved_config_dir, default_task_tier=s.default_task_tier)
    assert catalogs.agent_ids() == ["support"]  # the configured directory, not the shipped one


def test_a_home_relative_data_dir_and_config_dir_are_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    monkeypatch.setenv("FOCAL_DATA_DIR", "~/fd")  # as a shell passes it inside a value: unexpanded
    monkeypatch.setenv("FOCAL_CONFIG_DIR", "~/cfg")
    s = FocalSettings()
    assert s.data_dir == tmp_path / "home" / "fd"
    assert s.resolved_config_dir == tmp_path / "home" / "cfg"
    assert s.resolved_database_url == f"sqlite:///{(tmp_path / 'home' / 'fd' / 'focal.db').as_posix()}"
    upgrade(s.resolved_database_url)  # the file is where the directory was made, not under ./~/
    assert (tmp_path / "home" / "fd" / "focal.db").is_file() and not Path("~").exists()


@pytest.mark.parametrize(
    "url", ["sqlite://", "sqlite:///:memory:", "sqlite+aiosqlite:///:memory:", "sqlite:///file::memory:?uri=true"]
)
def test_an_in_memory_sqlite_database_is_refused_naming_database_url(url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValidationError) as info:
        FocalSettings(database_url=url)
    assert [e["loc"] for e in info.value.errors()] == [("database_url",)]
    assert "in-memory SQLite database" in str(info.value)
    monkeypatch.setenv("FOCAL_DATABASE_URL", url)
    with pytest.raises(ValidationError, match="in-memory SQLite database"):
        FocalSettings()


def test_focal_refuses_an_in_memory_database_set_after_validation(tmp_path: Path) -> None:
    from focal import ConfigError
    from focal.app import Focal

    s = FocalSettings(data_dir=tmp_path)
    s.database_url = "sqlite:///:memory:"  # assignment is not validated
    with pytest.raises(ConfigError, match="database_url: 'sqlite:///:memory:' is an in-memory SQLite database"):
        Focal.open(s)
