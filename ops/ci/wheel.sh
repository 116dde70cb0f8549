#!/usr/bin/env bash
# The wheel job: build the sdist and, from it, the wheel; check the wheel carries its data and licence;
# then, for Python 3.11 and 3.13, install the wheel (locked by constraints.txt) into a clean venv
# outside the source tree and run `gateway --version`, `validate`, `calendar` and the whole `demo`
# there, from a working directory with nothing of the checkout in it.
# Called by ops/ci/test.sh (so by `make test` and .ci/run). Interpreters: python3.11/python3.13 on
# PATH, else pyenv's (/root/.pyenv/versions/3.1x.*), else Debian's /usr/bin/python3.1x.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
BIN=$ROOT/.venv/bin
work=$(mktemp -d /tmp/gateway-wheel.XXXXXX)
trap 'rm -rf "$work"' EXIT

find_python() {  # find_python 3.13 -> path of an interpreter of that minor version
  local v=$1 c
  for c in "$(command -v "python$v" || true)" "${PYENV_ROOT:-$HOME/.pyenv}"/versions/"$v".*/bin/python3 "/usr/bin/python$v"; do
    if [ -n "$c" ] && [ -x "$c" ] && "$c" -c "import sys, venv, ssl, sqlite3; sys.exit(sys.version_info[:2] != tuple(map(int, '$v'.split('.'))))" 2>/dev/null; then
      echo "$c"; return 0
    fi
  done
  return 1
}

echo "== wheel: building sdist and wheel (the wheel from the sdist)"
"$BIN/uv" build --quiet --out-dir "$work/dist" "$ROOT" 2>&1 | grep -v "^warning\|^WARNING" || true
wheel=$(ls "$work"/dist/*.whl)
ls "$work"/dist/*.tar.gz >/dev/null
"$BIN/python" ops/ci/check_wheel.py "$wheel"

check_on() {  # check_on 3.13: install the wheel into a clean venv of that Python and run the gateway there
  local version=$1 python venv run gw examples summary rc
  if ! python=$(find_python "$version"); then
    echo "wheel: no Python $version interpreter found (looked for python$version on PATH, pyenv, /usr/bin)" >&2
    return 3
  fi
  echo "== wheel: Python $version ($python) in a clean venv outside the tree"
  venv=$work/venv-$version
  "$python" -m venv "$venv"
  "$BIN/uv" pip install --quiet --python "$venv/bin/python" -c "$ROOT/constraints.txt" "$wheel"
  run=$work/run-$version
  mkdir -p "$run"
  cd "$run"
  export GATEWAY_DATA_DIR=$run/data
  unset GATEWAY_CONFIG
  gw=$venv/bin/gateway
  "$gw" --version | grep -q "vn-report-gateway" || { echo "wheel: --version does not name the distribution" >&2; return 1; }
  examples=$("$venv/bin/python" -c "from gateway import resources; print(resources.bundled('packet-examples'))")
  case "$examples" in "$ROOT"*) echo "wheel: the installed gateway reads the checkout ($examples)" >&2; return 1;; esac
  "$gw" validate "$examples/valid/SO_LIEU_BAO_CAO.json" "$examples/valid/SO_LIEU_BAO_CAO.xml" >/dev/null
  rc=0; "$gw" validate "$examples/invalid/SO_LIEU_BAO_CAO--missing-required.json" >/dev/null || rc=$?
  [ "$rc" -eq 1 ] || { echo "wheel: validate of an invalid packet exited $rc, expected 1" >&2; return 1; }
  "$gw" calendar --year 2027 --regime KTXH-THANG --format json | "$venv/bin/python" -c \
    "import json, sys; rows = json.load(sys.stdin); assert len(rows) == 12, rows"
  "$gw" demo --faults none > demo.log 2>&1 || { cat demo.log; echo "wheel: demo failed on Python $version" >&2; return 1; }
  summary=$(grep -E '^read=' demo.log)
  echo "   Python $version demo: $summary"
  case "$summary" in "read=8085 quarantined=22 never_sent=1332 packets=20 acknowledged=20 "*"lost=0"*) ;;
    *) echo "wheel: unexpected demo result on Python $version: $summary" >&2; return 1;; esac
}

# The interpreters run side by side (each mostly waits on its demo's simulator and worker).
pids=()
for version in ${GATEWAY_WHEEL_PYTHONS:-3.11 3.13}; do
  ( set -e; check_on "$version" ) > "$work/log-$version" 2>&1 &
  pids+=("$!:$version")
done
failed=0
for entry in "${pids[@]}"; do
  rc=0; wait "${entry%%:*}" || rc=$?
  cat "$work/log-${entry#*:}"
  [ "$rc" -eq 0 ] || { echo "wheel: Python ${entry#*:} failed (exit $rc)" >&2; failed=1; }
done
[ "$failed" -eq 0 ] || exit 1
echo "== wheel: ok"
