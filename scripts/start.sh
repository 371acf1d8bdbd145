#!/usr/bin/env bash
# Install VetPACS into .venv/ and start it with demo data on the embedded default
# (SQLite + a local folder, ./vetpacs-data). Extra arguments go to `vetpacs serve`.
#   ./scripts/start.sh [--http-port 8042] [--dicom-port 11112] ...
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
PY="${PYTHON:-python3}"
if [ ! -x .venv/bin/python ]; then
  "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e .
exec .venv/bin/vetpacs serve --demo --data-dir "${VETPACS_DATA_DIR:-$ROOT/vetpacs-data}" "$@"
