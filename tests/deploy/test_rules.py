"""The chart's PrometheusRule is coachline's own alert rules, exported: the copy in the chart
(helm/coachline/files/prometheus-rules.yaml) must be what `coachline alerts export-prometheus`
writes today, so a change to scheduler/alerts/ cannot ship with yesterday's alerts."""

from __future__ import annotations

import subprocess
import sys

from tests.deploy.support import CHART, REPO, run

CHART_RULES = CHART / "files" / "prometheus-rules.yaml"


def test_chart_rules_are_the_current_export() -> None:
    # The same command helm/coachline/update-rules.sh runs, with the repository's rules file.
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "coachline",
            "alerts",
            "export-prometheus",
            "--rules",
            "scheduler/alerts/rules.yaml",
        ],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
        check=True,
    )
    assert result.stdout == CHART_RULES.read_text(), (
        "helm/coachline/files/prometheus-rules.yaml is stale: run helm/coachline/update-rules.sh"
    )


def test_chart_rules_pass_promtool(promtool: str) -> None:
    result = run([promtool, "check", "rules", str(CHART_RULES)])
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout
