"""Apply and inspect Alembic migrations programmatically."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from alembic.util import CommandError
from sqlalchemy import Engine, text
from sqlalchemy.engine import URL
from sqlalchemy.exc import OperationalError

from focal.errors import StorageError
from focal.storage._engines import make_sync_engine
from focal.storage._urls import mask_password

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"
_MIGRATION_LOCK_KEY = 0x466F63616C  # "Focal": the advisory lock concurrent PostgreSQL upgrades share


def _config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(MIGRATIONS_DIR))
    return cfg


def head_revision() -> str:
    """The newest migration shipped with this version of Focal."""
    head = ScriptDirectory.from_config(_config()).get_current_head()
    assert head is not None
    return head


def _known_revisions() -> set[str]:
    """Every migration shipped with this version of Focal."""
    return {script.revision for script in ScriptDirectory.from_config(_config()).walk_revisions()}


def _newer_focal(current: str) -> StorageError:
    return StorageError(
        f"the database is at schema revision {current!r}, which this Focal does not know: it was migrated "
        f"by a newer Focal (this one's newest revision is {head_revision()!r}); upgrade Focal, "
        "or use a database of this version"
    )


def _check_known(current: str | None) -> None:
    # `focal db upgrade` cannot fix this, so the error does not advise it
    if current is not None and current not in _known_revisions():
        raise _newer_focal(current)


def _unreachable(engine: Engine, exc: OperationalError) -> StorageError:
    shown = mask_password(engine.url.render_as_string(hide_password=False))
    if "@" in (engine.url.host or ""):  # an unquoted `@` in the password: the driver's text would show part of it
        first = "the URL's password holds an unquoted '@' (write it as %40)"
    else:
        first = str(exc.orig or exc).strip().splitlines()[0]
    return StorageError(f"cannot reach the database {shown}: {first}")


def _with_engine(url_or_engine: str | URL | Engine) -> tuple[Engine, bool]:
    if isinstance(url_or_engine, Engine):
        return url_or_engine, False
    return make_sync_engine(url_or_engine), True


def current_revision(url_or_engine: str | URL | Engine) -> str | None:
    """The schema revision the database is at (None: never migrated).

    Raises:
        StorageError: the database cannot be reached, or is at a revision this Focal does not ship
            (it was migrated by a newer Focal; the message names the revision).
    """
    engine, owned = _with_engine(url_or_engine)
    try:
        with engine.connect() as conn:
            current = MigrationContext.configure(conn).get_current_revision()
        _check_known(current)
        return current
    except OperationalError as exc:
        raise _unreachable(engine, exc) from None
    finally:
        if owned:
            engine.dispose()


def upgrade(url_or_engine: str | URL | Engine, revision: str = "head") -> tuple[str | None, str]:
    """Create or upgrade Focal's schema. Running it again is a no-op.

    Returns:
        (revision before, revision after).

    Raises:
        StorageError: the database cannot be reached, or was migrated by a newer Focal.
    """
    engine, owned = _with_engine(url_or_engine)
    try:
        with _one_migrator(engine):
            return _upgrade(engine, revision)
    except OperationalError as exc:
        raise _unreachable(engine, exc) from None
    finally:
        if owned:
            engine.dispose()


@contextmanager
def _one_migrator(engine: Engine) -> Iterator[None]:
    """Serialize upgrades of one SQLite file across processes (workers starting together), with an
    `flock` on a lock file beside it: SQLite runs DDL outside Alembic's transaction, so two
    concurrent upgrades would both try to create the same tables. (PostgreSQL: an advisory lock,
    taken inside the upgrade's transaction.)"""
    database = engine.url.database
    if engine.url.get_backend_name() != "sqlite" or not database or database == ":memory:" or fcntl is None:
        yield
        return
    lock_path = Path(database).expanduser().with_name(Path(database).name + ".migrate-lock")
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with lock_path.open("a") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # released when the file closes
        yield


def _upgrade(engine: Engine, revision: str) -> tuple[str | None, str]:
    before = current_revision(engine)
    cfg = _config()
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":  # concurrent upgrades wait for each other
            conn.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _MIGRATION_LOCK_KEY})
        cfg.attributes["connection"] = conn
        try:
            command.upgrade(cfg, revision)
        except CommandError:
            # e.g. another process stamped a revision we do not know between our check and here
            current = MigrationContext.configure(conn).get_current_revision()
            if current is not None and current not in _known_revisions():
                raise _newer_focal(current) from None
            raise
    after = current_revision(engine)
    assert after is not None
    return before, after


def require_schema(url_or_engine: str | URL | Engine) -> None:
    """Fail clearly when the schema is missing or older than this Focal.

    Raises:
        StorageError: not migrated, or behind (names the command that fixes it), or migrated by a
            newer Focal.
    """
    current = current_revision(url_or_engine)
    head = head_revision()
    if current != head:
        state = "has no Focal schema" if current is None else f"is at schema {current}, Focal needs {head}"
        raise StorageError(f"the database {state}: run `focal db upgrade`")
