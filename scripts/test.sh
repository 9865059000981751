#!/usr/bin/env bash
# Lint, type-check and run every test. Called by `./ballast test` (and so by .ci/run).
set -euo pipefail
cd "$(dirname "$0")/.."
py=.venv/bin/python
echo "== ruff"; $py -m ruff check .
echo "== ruff format --check"; $py -m ruff format --check .
echo "== mypy"; $py -m mypy
echo "== pytest"; exec $py -m pytest "$@"
