# Sourced by scripts/test and scripts/demo (from the repository root).
PYTHON=${PYTHON:-python3}
PIP_QUIET=(-q --disable-pip-version-check)

# install_locked VENV LOCK [KEEP_LOCK...]: VENV holds exactly LOCK's versions (hashes checked; a
# different version left by an earlier run is replaced), plus Focal itself, editable, built by the
# locked setuptools. A package neither LOCK nor a KEEP_LOCK names is removed. No bytecode is
# compiled at install time (Python does it on first import): that halves a fresh install.
install_locked() {
  local venv=$1 lock=$2 extra problems
  shift 2
  [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
  # --no-deps: the lock is the whole tree (pip check below proves it). Resolving again would make
  # pip 23 pick the newest version for a requirement named with other extras than the pin's.
  "$venv/bin/python" -m pip install "${PIP_QUIET[@]}" --no-compile --no-deps --require-hashes -r "$lock"
  "$venv/bin/python" -m pip install "${PIP_QUIET[@]}" --no-compile --no-deps --no-build-isolation -e .
  extra=$("$venv/bin/python" scripts/_locks.py unlocked "$lock" "$@")
  if [ -n "$extra" ]; then
    echo "removing from $venv what $lock does not name: $extra"
    # shellcheck disable=SC2086
    "$venv/bin/python" -m pip uninstall "${PIP_QUIET[@]}" -y $extra
  fi
  if ! problems=$("$venv/bin/python" -m pip check); then
    echo "$venv does not hold a consistent tree (is $lock complete?):" >&2
    echo "$problems" >&2
    return 1
  fi
}
