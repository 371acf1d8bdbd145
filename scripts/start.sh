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
# The browser viewer (/viewer/): built from frontend/ when Node/npm are installed.
if command -v npm >/dev/null 2>&1; then
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm run build) >/dev/null
else
  echo "npm not found: /viewer/ will say the viewer is not built (install Node 20 to build it)" >&2
fi
exec .venv/bin/vetpacs serve --demo --data-dir "${VETPACS_DATA_DIR:-$ROOT/vetpacs-data}" "$@"
