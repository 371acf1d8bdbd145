#!/usr/bin/env bash
# Start a fresh, empty VetPACS for ../shared/bench (run_all.sh), bound to 127.0.0.1.
# Prints KEY=VALUE lines: PID, WORKDIR, DICOM_PORT, DICOMWEB_URL, HTTP_TOKEN (a fresh API token).
# Env: VETPACS_BENCH_PORT (11114), VETPACS_BENCH_HTTP_PORT (8044), VETPACS_DICOM_WORKERS (1), BENCH_TMP (scratch), BENCH_SCU_AET/PORT.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/../.." && pwd)"
VETPACS="$ROOT/.venv/bin/vetpacs"
PORT="${VETPACS_BENCH_PORT:-11114}"
HTTP_PORT="${VETPACS_BENCH_HTTP_PORT:-8044}"
WORKDIR="$(mktemp -d "${BENCH_TMP:-${TMPDIR:-/tmp}}/vetpacs-bench.XXXXXX")"
export VETPACS_DATA_DIR="$WORKDIR/data" VETPACS_DICOM_PORT="$PORT" VETPACS_DICOM_HOST=127.0.0.1 \
       VETPACS_HTTP_PORT="$HTTP_PORT" VETPACS_HTTP_HOST=127.0.0.1 VETPACS_LOG_LEVEL=WARNING
# The bench's C-MOVE destination.
"$VETPACS" modality add bench --ae "${BENCH_SCU_AET:-BENCHSCU}" --host 127.0.0.1 --port "${BENCH_SCU_PORT:-11112}" >/dev/null
# A reader account and its API token for QIDO/WADO (sent by the bench as a Bearer token).
"$VETPACS" user add bench --role radiologist --password-stdin >/dev/null <<<"$(head -c 24 /dev/urandom | base64)"
TOKEN="$("$VETPACS" user token bench --name bench)"
nohup "$VETPACS" serve >"$WORKDIR/server.log" 2>&1 </dev/null &
PID=$!
echo "$PID" >"$WORKDIR/server.pid"
for _ in $(seq 1 300); do
  if grep -q VETPACS_READY "$WORKDIR/server.log" 2>/dev/null; then
    echo "PID=$PID"; echo "WORKDIR=$WORKDIR"; echo "DICOM_PORT=$PORT"
    echo "DICOMWEB_URL=http://127.0.0.1:$HTTP_PORT/dicom-web"; echo "HTTP_TOKEN=$TOKEN"; exit 0
  fi
  kill -0 "$PID" 2>/dev/null || { echo "vetpacs exited:" >&2; cat "$WORKDIR/server.log" >&2; exit 1; }
  sleep 0.1
done
echo "vetpacs did not start" >&2; cat "$WORKDIR/server.log" >&2; exit 1
