"""The `focal` command line (typer + rich; every command has `--json`; errors are one line)."""

from __future__ import annotations

import os
from pathlib import Path

import typer

from focal.cli import _audit, _budgets, _chat, _config, _db, _demo, _models, _overrides, _telemetry
from focal.cli._common import STATE, handle_errors, settings
from focal.cli._usage import FocalGroup
from focal.logging import configure_logging

__all__ = ["app", "main"]

app = typer.Typer(
    name="focal",
    cls=FocalGroup,  # usage errors: one `error: ...` line, exit code 2
    help="Focal: multi-tenant alignment engine for conversational agents on Agno.",
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    add_completion=False,
)


@app.callback()
@handle_errors
def _root(
    database_url: str | None = typer.Option(None, "--database-url", help="Overrides FOCAL_DATABASE_URL."),
    config_dir: Path | None = typer.Option(None, "--config-dir", help="Overrides FOCAL_CONFIG_DIR."),
) -> None:
    STATE.database_url = database_url
    STATE.config_dir = config_dir
    current = settings()  # fail early, in one line, on a bad FOCAL_* setting
    configure_logging(current.log_format, current.log_level)  # the CLI owns its process's logging


# FocalGroup on every group: `focal models` alone prints the help and exits 2
app.add_typer(_models.app, name="models", cls=FocalGroup)
app.add_typer(_overrides.app, name="overrides", cls=FocalGroup)
app.add_typer(_budgets.app, name="budgets", cls=FocalGroup)
app.add_typer(_db.app, name="db", cls=FocalGroup)
app.add_typer(_telemetry.app, name="telemetry", cls=FocalGroup)
app.add_typer(_config.app, name="config", cls=FocalGroup)
app.add_typer(_audit.app, name="audit", cls=FocalGroup)
_demo.register(app)
_chat.register(app)


def main() -> None:
    """Console-script entry point (`focal`, `python -m focal`): Focal owns this process.

    Agno telemetry is switched off for the whole process (Agno reads `AGNO_TELEMETRY` at every run),
    and the root callback configures logging from the settings. Usage errors are handled by
    `FocalGroup.main`.
    """
    os.environ["AGNO_TELEMETRY"] = "false"
    app()
