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
for workers in 1 2; do
  name="vetpacs"; [ "$workers" = 1 ] || name="vetpacs-${workers}w"
  cat >"$T/$name.json" <<JSON
{
  "name": "$name",
  "description": "VetPACS ($workers DICOM listener process(es)), SQLite + folder store, fsync per instance",
  "host": "127.0.0.1", "port": 11114, "aet": "VETPACS",
  "dicomweb": "http://127.0.0.1:8044/dicom-web",
  "start": "$HERE/target/start.sh", "stop": "$HERE/target/stop.sh",
  "env": {"VETPACS_DICOM_WORKERS": "$workers"},
  "count": "cfind",
  "capabilities": ["store", "find", "move", "get", "qido", "wado", "rendered"]
}
JSON
done
mkdir -p "$HERE/results"
# bench_vet.py = the harness's bench.py plus the owner queries; run like run_all.sh does it, in a
# private loopback-only network namespace (Orthanc 1.10 and DCMTK's storescp cannot bind to 127.0.0.1).
TARGETS=("orthanc-nodelay" "$T/vetpacs.json")
[ -n "${VETPACS_BENCH_2W:-}" ] && TARGETS+=("$T/vetpacs-2w.json")
OUT="$HERE/results/$(date +%Y%m%d-%H%M%S)"
cd "$BENCH"
exec unshare --net env BENCH_IN_NETNS=1 BENCH_DIR="$BENCH" bash -c \
  'ip link set lo up; exec "$0" "$@"' "$BENCH/.venv/bin/python" "$HERE/bench_vet.py" --out "$OUT" "$@" "${TARGETS[@]}"
