#!/usr/bin/env bash
# Install everything the test suite needs and run it all.
#   ./scripts/test.sh [pytest args]
# - Debian packages: dcmtk (echoscu/storescu/findscu/movescu/getscu/dump2dcm), chromium (browser
#   tests), openssl (test certificates) and fonts-dejavu-core (report PDFs with any script),
#   installed if missing.
# - The viewer (frontend/): npm ci, its Vitest tests and the Vite build, when Node/npm are installed.
# - .venv/ with VetPACS and its test extras.
# - The suite runs on SQLite; when VETPACS_TEST_DATABASE_URL is set (PostgreSQL), it runs again there,
#   without the browser tests (tests/e2e: they test the front end, whose API calls the integration
#   tests cover on PostgreSQL), to keep the whole run within CI's time.
# - Each pass prints its 25 slowest tests (--durations), to see where the time goes.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"

need_apt=()
command -v storescu >/dev/null 2>&1 || need_apt+=(dcmtk)
[ -x /usr/bin/chromium ] || need_apt+=(chromium)  # the browser tests (Playwright drives it)
command -v openssl >/dev/null 2>&1 || need_apt+=(openssl)  # self-signed certificates for the TLS tests
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need_apt+=(fonts-dejavu-core)  # report PDFs in any language
if [ ${#need_apt[@]} -gt 0 ]; then
  SUDO=""
  [ "$(id -u)" = "0" ] || SUDO="sudo"
  echo "installing Debian packages: ${need_apt[*]}"
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need_apt[@]}"
fi

PY="${PYTHON:-python3}"
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"

if command -v npm >/dev/null 2>&1; then
  echo "== viewer (frontend/): npm ci, vitest, vite build"
  (cd frontend && npm ci --no-audit --no-fund --loglevel=error && npm test && npm run build)
else
  echo "== npm not found: the viewer is not built (browser tests skip; under CI=true they fail)"
fi

echo "== lint (ruff) and types (mypy --strict on src/)"
.venv/bin/ruff check src tests
.venv/bin/ruff format --check src tests
.venv/bin/mypy
echo "== tests on SQLite"
env -u VETPACS_TEST_DATABASE_URL .venv/bin/python -m pytest -n 2 --durations=25 "$@"
if [ -n "${VETPACS_TEST_DATABASE_URL:-}" ]; then
  echo "== tests on PostgreSQL ($VETPACS_TEST_DATABASE_URL), browser tests excepted"
  .venv/bin/python -m pytest -n 2 --durations=25 --ignore=tests/e2e "$@"
fi
