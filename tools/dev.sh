#!/usr/bin/env bash
# Sets up PoseFinder's virtual environment (once; reused while pyproject.toml and setup.py are unchanged)
# and runs one job in it.
#
#   bash tools/dev.sh demo        set up, then open the app on the demo library (built on first use)
#   bash tools/dev.sh test [ARGS] set up, then run the test suite (ARGS go to pytest)
#   bash tools/dev.sh run CMD...  set up, then run CMD inside the environment
#
# The environment lives in .venv/ (git-ignored), or where POSEFINDER_VENV points (CI keeps one in ~/.cache).
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${POSEFINDER_VENV:-$root/.venv}
python=${PYTHON:-python3}
deps_stamp=$(cat "$root/pyproject.toml" "$root/setup.py" | sha256sum | cut -c1-16)

if [ ! -x "$venv/bin/python" ] || [ "$(cat "$venv/.posefinder-deps" 2>/dev/null)" != "$deps_stamp" ]; then
  echo "Setting up the environment in $venv (the first time takes a few minutes: torch is large)..." >&2
  rm -rf "$venv"
  "$python" -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --upgrade pip setuptools wheel
  "$venv/bin/python" -m pip install --quiet -e "$root[test,train,ann,formats]"
  echo "$deps_stamp" > "$venv/.posefinder-deps"
  echo "$root" > "$venv/.posefinder-root"
elif [ "$(cat "$venv/.posefinder-root" 2>/dev/null)" != "$root" ]; then
  # A reused environment from another checkout: point the editable install at this one.
  "$venv/bin/python" -m pip install --quiet --no-deps --no-build-isolation -e "$root"
  echo "$root" > "$venv/.posefinder-root"
fi

job=${1:-demo}
[ $# -gt 0 ] && shift
case "$job" in
  demo) exec "$venv/bin/posefinder" demo "$@" ;;
  test) cd "$root" && exec "$venv/bin/python" -m pytest "$@" ;;
  run) cd "$root" && PATH="$venv/bin:$PATH" exec "$@" ;;
  *) echo "usage: bash tools/dev.sh demo | test [PYTEST ARGS] | run CMD..." >&2; exit 2 ;;
esac
