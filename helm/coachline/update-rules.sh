#!/usr/bin/env bash
# Regenerate files/prometheus-rules.yaml (the PrometheusRule's spec) from coachline's alert rules:
# run after every change to scheduler/alerts/rules.yaml or scheduler/alerts/promql.py.
# tests/deploy/test_rules.py fails while the chart's copy differs from a fresh export.
#
#   helm/coachline/update-rules.sh            # uses .venv/bin/python of the repository
#   PYTHON=/path/to/python helm/coachline/update-rules.sh
set -euo pipefail
chart_dir="$(cd "$(dirname "$0")" && pwd)"
repo_dir="$(cd "$chart_dir/../.." && pwd)"
python="${PYTHON:-$repo_dir/.venv/bin/python}"

cd "$repo_dir"
# --rules: the repository's rules file, never one a local COACHLINE_ALERT_RULES_FILE points to.
"$python" -m coachline alerts export-prometheus \
  --rules scheduler/alerts/rules.yaml \
  -o "$chart_dir/files/prometheus-rules.yaml"
