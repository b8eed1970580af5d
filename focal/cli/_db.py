"""`focal db upgrade|status`: Focal's schema."""

from __future__ import annotations

import typer

from focal.cli._common import JSON_OPTION, console, handle_errors, print_json, settings
from focal.storage import current_revision, head_revision, upgrade

app = typer.Typer(help="Database schema (Alembic migrations).", no_args_is_help=True)


def _display(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


@app.command("upgrade")
@handle_errors
def upgrade_cmd(as_json: bool = JSON_OPTION) -> None:
    """Create or upgrade the schema (running it again is a no-op)."""
    url = settings().resolved_database_url
    before, after = upgrade(url)
    row = {"database": _display(url), "before": before, "after": after, "changed": before != after}
    if as_json:
        print_json([row])
    elif before == after:
        console.print(f"{row['database']}: already at {after}", markup=False)
    else:
        console.print(f"{row['database']}: {before or 'empty'} → {after}", markup=False)


@app.command("status")
@handle_errors
def status_cmd(as_json: bool = JSON_OPTION) -> None:
    """Show the schema revision and whether it is current."""
    url = settings().resolved_database_url
    current, head = current_revision(url), head_revision()
    row = {"database": _display(url), "current": current, "head": head, "up_to_date": current == head}
    if as_json:
        print_json([row])
        return
    state = "up to date" if current == head else "run `focal db upgrade`"
    console.print(f"{row['database']}: at {current or 'no schema'}, head {head} ({state})", markup=False)
