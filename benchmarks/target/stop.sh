#!/usr/bin/env bash
# Stop the VetPACS started by start.sh and delete its WORKDIR.
set -euo pipefail
WORKDIR="${1:?usage: stop.sh WORKDIR}"
if [ -f "$WORKDIR/server.pid" ]; then
  PID="$(cat "$WORKDIR/server.pid")"
  if kill -0 "$PID" 2>/dev/null; then
    kill -TERM "$PID"
    for _ in $(seq 1 300); do kill -0 "$PID" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$PID" 2>/dev/null && kill -KILL "$PID"
  fi
fi
case "$WORKDIR" in */vetpacs-bench.*) rm -rf "$WORKDIR" ;; *) echo "not deleting $WORKDIR" >&2 ;; esac
