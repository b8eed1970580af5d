"""Derive the sync and async driver URLs from the one configured database URL."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.engine import URL, make_url

from focal.errors import ConfigError


def mask_password(url: str) -> str:
    """An unparsed URL with its password replaced by `***` (everything between the user name and
    the last `@` counts as the password, so a password holding `/`, `:` or `@` never shows)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        scheme, rest = "", url
    userinfo, at, hostpart = rest.rpartition("@")
    if not at or ":" not in userinfo:
        return url
    user = userinfo.split(":", 1)[0]
    return f"{scheme}{sep}{user}:***@{hostpart}"


def _parse(url: str | URL) -> URL:
    try:
        return make_url(url)
    except Exception:  # ArgumentError, or a ValueError whose text may hold part of the password
        raise ConfigError(
            f"invalid database URL {mask_password(str(url))!r}: "
            "expected dialect+driver://user:password@host:port/database",
            key="database_url",
        ) from None


def backend(url: str | URL) -> str:
    """`sqlite` or `postgresql`.

    Raises:
        ConfigError: another database.
    """
    name = _parse(url).get_backend_name()
    if name in ("sqlite", "postgresql"):
        return name
    raise ConfigError(f"unsupported database {name!r}: use sqlite or postgresql", key="database_url")


def sync_url(url: str | URL) -> URL:
    """The URL with a synchronous driver (sqlite / psycopg)."""
    parsed = _parse(url)
    if backend(parsed) == "sqlite":
        return parsed.set(drivername="sqlite")
    return parsed.set(drivername="postgresql+psycopg")


def async_url(url: str | URL) -> URL:
    """The URL with an asyncio driver (aiosqlite / psycopg)."""
    parsed = _parse(url)
    if backend(parsed) == "sqlite":
        return parsed.set(drivername="sqlite+aiosqlite")
    return parsed.set(drivername="postgresql+psycopg")


def ensure_sqlite_dir(url: str | URL) -> None:
    """Create the directory of a SQLite file URL so the first connection succeeds."""
    parsed = _parse(url)
    if backend(parsed) == "sqlite" and parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
