#!/usr/bin/env bash
# Run ../shared/bench with VetPACS and Orthanc side by side, in one run, on the same data.
#   benchmarks/run.sh [run_all.sh options]          e.g.  --sections ingest --reps 5
# Needs root (network namespace; apt-get for orthanc, orthanc-dicomweb, dcmtk, iperf3 if missing).
# Results: benchmarks/results/<stamp>/ (results.json, table.txt).
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
SHARED="$(cd "$ROOT/../shared/bench" 2>/dev/null && pwd || true)"
BENCH="${BENCH_DIR:-${TMPDIR:-/tmp}/vetpacs-bench-harness}"
[ -n "$SHARED" ] || { echo "../shared/bench not found" >&2; exit 2; }
if [ ! -d "$BENCH" ]; then cp -r "$SHARED" "$BENCH"; fi
if ! command -v Orthanc >/dev/null || ! command -v storescu >/dev/null; then
  (cd "$BENCH" && ./setup.sh --apt)
fi
[ -x "$BENCH/.venv/bin/python" ] || (cd "$BENCH" && ./setup.sh)
[ -x "$ROOT/.venv/bin/vetpacs" ] || { python3 -m venv "$ROOT/.venv"; "$ROOT/.venv/bin/pip" install -q -e "$ROOT"; }
T="$BENCH/targets-vetpacs"
mkdir -p "$T"
target() {  # name, description, env JSON
  cat >"$T/$1.json" <<JSON
{
  "name": "$1",
  "description": "$2",
  "host": "127.0.0.1", "port": 11114, "aet": "VETPACS",
  "dicomweb": "http://127.0.0.1:8044/dicom-web",
  "start": "$HERE/target/start.sh", "stop": "$HERE/target/stop.sh",
  "env": $3,
  "count": "cfind",
  "capabilities": ["store", "find", "move", "get", "qido", "wado", "rendered"]
}
JSON
}
target vetpacs "VetPACS, one DICOM listener process, SQLite + folder store, fsync per instance" '{"VETPACS_DICOM_WORKERS": "1"}'
target vetpacs-2w "VetPACS with two DICOM listener processes on one port" '{"VETPACS_DICOM_WORKERS": "2"}'
target vetpacs-nolink "VetPACS without auto-linking (archive only): what linking costs" '{"VETPACS_AUTO_LINK": "false"}'
mkdir -p "$HERE/results"
# bench_vet.py = the harness's bench.py plus the owner queries; run like run_all.sh does it, in a
# private loopback-only network namespace (Orthanc 1.10 and DCMTK's storescp cannot bind to 127.0.0.1).
# VETPACS_BENCH_TARGETS: which VetPACS variants run after Orthanc (default: vetpacs), e.g.
# "vetpacs vetpacs-nolink" for the cost of linking, "vetpacs vetpacs-2w" for two listener processes.
TARGETS=("orthanc-nodelay")
for name in ${VETPACS_BENCH_TARGETS:-vetpacs}; do TARGETS+=("$T/$name.json"); done
OUT="$HERE/results/$(date +%Y%m%d-%H%M%S)"
cd "$BENCH"
exec unshare --net env BENCH_IN_NETNS=1 BENCH_DIR="$BENCH" bash -c \
  'ip link set lo up; exec "$0" "$@"' "$BENCH/.venv/bin/python" "$HERE/bench_vet.py" --out "$OUT" "$@" "${TARGETS[@]}"
