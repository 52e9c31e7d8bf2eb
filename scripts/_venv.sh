# Sourced by scripts/test and scripts/run_example: make sure .venv exists and
# holds softeqx (editable) with the extras named in $1, then put it on PATH.
set -euo pipefail
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
if [ ! -x .venv/bin/python ]; then
  python=""
  for candidate in python3.11 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1 &&
      "$candidate" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
      python="$candidate"
      break
    fi
  done
  if [ -z "$python" ]; then
    echo "softeqx needs Python >= 3.11 (python3.11 or python3 on PATH)." >&2
    exit 1
  fi
  "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e ".[$1]"
export PATH="$root/.venv/bin:$PATH"
