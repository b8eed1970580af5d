"""`FocalSettings`: the one settings object (environment prefix `FOCAL_`)."""

from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from focal._config_dir import default_config_dir
from focal.errors import ConfigError
from focal.routing.tasks import Tier

__all__ = ["FocalSettings"]


class FocalSettings(BaseSettings):
    """Settings read from the environment (`FOCAL_*`) or given explicitly.

    `database_url` defaults to a SQLite file `focal.db` in `data_dir`; PostgreSQL URLs use
    `postgresql+psycopg://user@host:5432/db`.
    """

    model_config = SettingsConfigDict(env_prefix="FOCAL_", extra="ignore", validate_default=True)

    data_dir: Path = Field(default=Path(".focal"), description="Where the embedded SQLite file lives.")
    database_url: str | None = Field(default=None, description="SQLAlchemy URL; default: SQLite in data_dir.")
    config_dir: Path | None = Field(default=None, description="Directory holding models.yaml and agents/.")
    log_format: Literal["console", "json"] = Field(
        default="console", description="Log lines of the `focal` CLI, or of `Focal.open(configure_logging=True)`."
    )
    log_level: Literal["debug", "info", "warning", "error"] = Field(
        default="info", description="Lowest level logged by the `focal` CLI or `Focal.open(configure_logging=True)`."
    )
    resolver_cache_ttl_seconds: float = Field(
        default=5.0,
        ge=0,
        description="How long a cached resolution may be served before the override table is re-read; "
        "bounds how late another process sees an override change.",
    )
    resolver_cache_max_entries: int = Field(default=200_000, gt=0)
    default_task_tier: Tier | None = Field(
        default=None, description="Tier for unknown task types; unset means unknown tasks are an error."
    )
    retry_max_attempts: int = Field(default=3, ge=1, description="Tries per hop, the first included.")
    retry_max_delay_seconds: float = Field(
        default=20.0, gt=0, description="Longest wait before a retry; a longer Retry-After moves to the next hop."
    )
    breaker_failure_threshold: int = Field(
        default=5, ge=1, description="Failures within the window that open a breaker."
    )
    breaker_window_seconds: float = Field(default=60.0, gt=0)
    breaker_cooldown_seconds: float = Field(default=30.0, gt=0, description="Open time before the one probe.")
    stall_timeout_seconds: float = Field(default=30.0, gt=0, description="Longest silence inside a stream.")
    run_cost_limit_usd: Decimal | None = Field(
        default=None, ge=0, description="Most a run (calls sharing a run_id) may spend; unset: no limit."
    )
    step_cost_limit_usd: Decimal | None = Field(
        default=None, ge=0, description="Most a single step call may cost; unset: no limit."
    )
    cost_limit_action: Literal["abort", "downgrade", "warn"] = "abort"
    turn_timeout_seconds: float = Field(
        default=60.0, gt=0, description="Deadline of a whole alignment turn: every call, tool and retry in it."
    )
    max_regenerations: int = Field(
        default=2, ge=0, le=10, description="Replies rewritten after a hard-rule violation before the FALLBACK."
    )
    embedded_default: bool = Field(
        default=True,
        description="A catalog's model whose provider has no credentials in the environment is replaced by its "
        "first fallback that has them, else the same tier on a provider that has them, else the local model "
        "(same tier); false: resolve as the catalogs say.",
    )
    local_model_path: Path | None = Field(
        default=None,
        description="A GGUF file (a ChatML instruct model) the local model server serves instead of the bundled "
        "SmolLM2-135M-Instruct.",
    )
    session_wait_seconds: float = Field(
        default=30.0, gt=0, description="How long a turn waits for another turn of its session to finish."
    )
    db_pre_ping: bool = Field(
        default=False,
        description="PostgreSQL: test each pooled connection before use (a round trip per checkout). Off: a "
        "connection broken by a database restart fails the one statement using it, then the pool is refreshed.",
    )

    @field_validator("data_dir", "config_dir", "local_model_path")
    @classmethod
    def _expand_home(cls, value: Path | None) -> Path | None:
        # `FOCAL_DATA_DIR=~/fd`: the shell does not expand a `~` inside a value
        return value.expanduser() if value is not None else None

    @field_validator("database_url")
    @classmethod
    def _not_in_memory(cls, value: str | None) -> str | None:
        if value:
            try:
                cls.check_database_url(value)
            except ConfigError as exc:
                raise ValueError(exc.detail) from None
        return value

    @staticmethod
    def check_database_url(url: str) -> None:
        """Refuse a database URL Focal cannot work with: an in-memory SQLite database (`sqlite://`,
        `sqlite:///:memory:`, `mode=memory`), since each of Focal's engines and connections would
        open its own empty one. A URL that cannot be parsed is left to the storage layer to report.

        Raises:
            ConfigError: an in-memory SQLite URL (key `database_url`).
        """
        try:
            parsed = make_url(url)
        except Exception:  # reported, with the password masked, when an engine is made
            return
        if parsed.get_backend_name() != "sqlite":
            return
        database = parsed.database or ""
        if database in ("", ":memory:") or ":memory:" in database or parsed.query.get("mode") == "memory":
            raise ConfigError(
                f"{url!r} is an in-memory SQLite database, which Focal "
                "cannot use: each of its engines would open its own empty database; use a file "
                "(sqlite:///path/to/focal.db)",
                key="database_url",
            )

    @model_validator(mode="after")
    def _fill_defaults(self) -> FocalSettings:
        if self.config_dir is None:
            self.config_dir = default_config_dir()
        if not self.database_url:
            self.database_url = f"sqlite:///{(self.data_dir / 'focal.db').as_posix()}"
        return self

    @property
    def resolved_database_url(self) -> str:
        """The database URL, never None after validation."""
        assert self.database_url is not None
        return self.database_url

    @property
    def resolved_config_dir(self) -> Path:
        """The configuration directory, never None after validation."""
        assert self.config_dir is not None
        return self.config_dir
