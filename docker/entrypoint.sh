#!/bin/sh
# Entrypoint of every coachline image (run under tini, which forwards SIGTERM and reaps orphans).
#
# prometheus-client runs in multiprocess mode in every role (PROMETHEUS_MULTIPROC_DIR). A container
# restart keeps the pod's emptyDir, and the files a dead process left there would be added to the
# new process's counters and gauges, so the directory starts empty. Counter resets are what
# Prometheus expects after a restart; stale samples from a dead pid are not.
set -eu

if [ -n "${PROMETHEUS_MULTIPROC_DIR:-}" ]; then
  mkdir -p "$PROMETHEUS_MULTIPROC_DIR"
  find "$PROMETHEUS_MULTIPROC_DIR" -mindepth 1 -maxdepth 1 -name '*.db' -type f -delete
fi

exec "$@"
