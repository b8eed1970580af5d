"""Lock-file helpers for scripts/lock and scripts/_venv.sh (standard library only).

python scripts/_locks.py tidy LOCK CONSTRAINTS   drop the temporary constraints file from LOCK's "# via" notes
python scripts/_locks.py unlocked LOCK...        installed distributions no LOCK names (run by the venv's python)
python scripts/_locks.py drift LOCK              installed versions that differ from LOCK (run by the venv's python)
"""

from __future__ import annotations

import re
import sys
from importlib.metadata import distributions
from pathlib import Path

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)(?:\[[^\]]*\])?==([^\s;\\]+)")
_ALWAYS_KEPT = {"pip", "focal"}


def _norm(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower()


def _pins(lock: str) -> dict[str, str]:
    return {_norm(m[1]): m[2] for line in Path(lock).read_text().splitlines() if (m := _PIN.match(line))}


def _installed() -> dict[str, str]:
    return {_norm(d.metadata["Name"]): d.version for d in distributions() if d.metadata["Name"]}


def tidy(lock: str, constraints: str) -> None:
    lines, out, i = Path(lock).read_text().splitlines(), [], 0
    while i < len(lines):
        if not lines[i].startswith("    # via"):
            out.append(lines[i])
            i += 1
            continue
        via = [lines[i].removeprefix("    # via").strip()]
        i += 1
        while i < len(lines) and lines[i].startswith("    #   "):
            via.append(lines[i].strip("# "))
            i += 1
        # what remains is only the build requirements uv read from stdin
        via = [v for v in via if v and v != f"-c {constraints}"] or ["pyproject.toml [build-system] requires"]
        out += [f"    # via {via[0]}"] if len(via) == 1 else ["    # via", *(f"    #   {v}" for v in via)]
    Path(lock).write_text("\n".join(out) + "\n")


def unlocked(*locks: str) -> None:
    named = set().union(*(_pins(lock) for lock in locks))
    print(" ".join(sorted(set(_installed()) - named - _ALWAYS_KEPT)))


def drift(lock: str) -> None:
    pins, installed = _pins(lock), _installed()
    for name in sorted((set(pins) | set(installed)) - _ALWAYS_KEPT):
        if pins.get(name) != installed.get(name):
            print(f"  {name}: {pins.get(name, '-')} -> {installed.get(name, '-')}")


if __name__ == "__main__":
    command, *args = sys.argv[1:]
    {"tidy": tidy, "unlocked": unlocked, "drift": drift}[command](*args)
