#!/usr/bin/env bash
# The whole test suite: quality gates, then pytest against real SQLite, PostgreSQL, kombu over
# SQLAlchemy and RabbitMQ. Servers are started here, on 127.0.0.1 with throwaway data, and stopped
# at the end. Called by `make test` (README command 2) and so by .ci/run.
set -euo pipefail
cd "$(dirname "$0")/../.."
BIN=.venv/bin

bash ops/ci/ensure-packages.sh

echo "== ruff"; $BIN/ruff check .
echo "== mypy"; $BIN/mypy

# The wheel job: sdist + wheel, installed outside the tree on Python 3.11 and 3.13, demo run there.
bash ops/ci/wheel.sh

echo "== starting PostgreSQL and RabbitMQ on 127.0.0.1"
envfile=$(mktemp)
$BIN/python -m tests.support.services start "$envfile"
# shellcheck disable=SC1090
source "$envfile"
trap '$BIN/python -m tests.support.services stop "$envfile" || true; rm -f "$envfile"' EXIT

echo "== pytest"
mkdir -p test-output
$BIN/pytest -p no:cacheprovider -n 2 "$@"
