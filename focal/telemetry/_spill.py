"""The spill file on disk, shared by every process that uses the same spill directory.

Writers append whole batches of lines to `telemetry-spill.jsonl` under an exclusive `flock`; a
replay renames the file to `telemetry-spill.jsonl.replaying-<ns>-<pid>` and reads it only once it
holds the lock on the renamed file, so:

- a writer that opened the file before the rename notices, once it has the lock, that the file it
  holds is no longer the one at the path, and reopens (its lines go to the fresh file, never into
  one being replayed or already removed);
- a writer that held the lock during the rename finishes first, and the replay reads its lines;
- a replay holds its file's lock until it has removed the file, so another replay (another process,
  or another store) skips that file rather than inserting it twice, and a file already removed is
  never replayed again;
- a replay records, after each batch it inserted, how far into the file it got (a `.replayed-*`
  file beside it): a replay that failed midway resumes there, so rows inserted, then purged and
  folded into the daily aggregates meanwhile, are not inserted (and counted) a second time.

Without `fcntl` (Windows) only the rename protects the file: one process per spill directory.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from focal.telemetry.records import LLMCallRecord, WorkflowRunRecord

try:
    import fcntl
except ImportError:  # pragma: no cover - not on POSIX
    fcntl = None  # type: ignore[assignment]

SPILL_FILE = "telemetry-spill.jsonl"
REPLAYING = f"{SPILL_FILE}.replaying-"
_MAX_WAIT_STEP = 0.05


def _is_at(fd: int, path: Path) -> bool:
    """Whether the open file `fd` is (still) the file at `path`."""
    try:
        at_path = os.stat(path)
    except FileNotFoundError:
        return False
    held = os.fstat(fd)
    return held.st_nlink > 0 and (held.st_ino, held.st_dev) == (at_path.st_ino, at_path.st_dev)


def _try_lock(fd: int) -> bool:
    if fcntl is None:
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        return False
    return True


def append(path: Path, data: bytes) -> None:
    """Append `data` (whole lines) to the spill file at `path`, fsync'd, under its lock.

    The lock is taken without blocking and retried: a file renamed away for a replay (whose lock the
    replay keeps) is never waited on, it is left for the fresh file at `path`.
    """
    wait = 0.0005
    while True:
        fd = os.open(path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
        try:
            while True:
                locked = _try_lock(fd)
                if not _is_at(fd, path):
                    break  # a replay moved it away (or removed it): open the file now at the path
                if locked:
                    size = os.fstat(fd).st_size
                    if size and os.pread(fd, 1, size - 1) != b"\n":  # a writer died mid-line: end that line
                        data = b"\n" + data
                    view = memoryview(data)
                    while view:
                        view = view[os.write(fd, view) :]
                    os.fsync(fd)
                    return
                time.sleep(wait)  # another writer is appending: a few milliseconds at most
                wait = min(wait * 2, _MAX_WAIT_STEP)
        finally:
            os.close(fd)  # releases the lock


def claim(path: Path, spill_path: Path) -> tuple[Path, int] | None:
    """Take a spill file for a replay: `(file to read, fd holding its lock)`, or None if there is
    nothing to take (the file is gone, or another replay holds it). Close the fd after removing the file.

    The live spill file is renamed first (records spilled meanwhile go to a fresh file), then locked,
    waiting for a writer that locked it before the rename; a leftover `.replaying-*` file is taken
    only if no other replay holds it.
    """
    target, renamed = path, path == spill_path
    if renamed:
        target = path.with_name(f"{REPLAYING}{time.time_ns()}-{os.getpid()}")
        try:
            path.rename(target)
        except FileNotFoundError:
            return None
    try:
        fd = os.open(target, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if not renamed:
            locked = _try_lock(fd)
        else:
            if fcntl is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)  # a writer that had it locked before the rename finishes first
            locked = True
        if locked and _is_at(fd, target):  # not already replayed and removed by another replay
            return target, fd
    except BaseException:
        os.close(fd)
        raise
    os.close(fd)
    return None


def leftovers(spill_dir: Path) -> list[Path]:
    """Spill files moved aside by replays that failed or were interrupted (oldest first)."""
    return sorted(spill_dir.glob(f"{REPLAYING}*"))


def _progress_path(path: Path) -> Path:
    return path.with_name(path.name.replace(REPLAYING, f"{SPILL_FILE}.replayed-", 1))


def progress(path: Path) -> int:
    """How many bytes of the spill file `path` an earlier, interrupted replay already inserted."""
    try:
        return max(int(_progress_path(path).read_text(encoding="ascii")), 0)
    except (OSError, ValueError):
        return 0


def save_progress(path: Path, offset: int) -> None:
    """Record that the first `offset` bytes of `path` are in the database (a later replay skips them:
    rows inserted, then purged and folded into the aggregates, must not be inserted again)."""
    sidecar = _progress_path(path)
    tmp = sidecar.with_name(sidecar.name + ".tmp")
    with tmp.open("w", encoding="ascii") as fh:
        fh.write(str(offset))
        fh.flush()
        os.fsync(fh.fileno())
    tmp.replace(sidecar)


def remove(path: Path) -> None:
    """Remove a replayed spill file and its progress."""
    path.unlink(missing_ok=True)
    _progress_path(path).unlink(missing_ok=True)


def read(
    path: Path, reject: Callable[[str, str], None], offset: int = 0
) -> Iterator[tuple[LLMCallRecord | WorkflowRunRecord, int]]:
    """Records of a spill file from byte `offset` on, each with the offset just past its line; a line
    that cannot be read back (torn by a crash, or not a record) goes to `reject(line, error)` instead
    of stopping the replay."""
    with path.open("rb") as fh:
        fh.seek(offset)
        for raw in fh:
            offset += len(raw)
            line = raw.decode("utf-8", "replace").strip()
            if not line:
                continue
            try:
                item = json.loads(line)
                kind = WorkflowRunRecord if item.get("type") == "run" else LLMCallRecord
                record = kind.from_json_dict(item["record"])
            except Exception as exc:
                reject(line, f"unreadable spill line: {type(exc).__name__}: {exc}")
                continue
            yield record, offset
