"""The Prometheus rules file: valid for promtool, built from the same rules, over metric names
coachline really exports -- and its expressions behave (promtool's own rule unit tests)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from prometheus_client import REGISTRY

import coachline.telemetry.metrics  # noqa: F401 -- registers every metric coachline exports
from coachline.cli import cli
from scheduler.alerts.promql import QUERIES, export_prometheus, skipped_rules
from scheduler.alerts.rules import load_rules
from scheduler.alerts.signals import SIGNALS

RULES = load_rules()
ON_CI = os.environ.get("CI", "").lower() in ("1", "true", "yes")


def _promtool() -> str:
    path = shutil.which("promtool")
    if path is None:
        message = "promtool is not installed (apt-get install prometheus)"
        if ON_CI:
            pytest.fail(message)
        pytest.skip(message)
    return path


def _exported() -> dict[str, dict[str, object]]:
    data = yaml.safe_load(export_prometheus(RULES))
    (group,) = data["groups"]
    return {r["alert"]: r for r in group["rules"]}


def test_promtool_accepts_the_exported_rules(tmp_path: Path) -> None:
    promtool = _promtool()
    path = tmp_path / "coachline.rules.yaml"
    result = CliRunner().invoke(cli, ["alerts", "export-prometheus", "-o", str(path)])
    assert result.exit_code == 0, result.output
    checked = subprocess.run([promtool, "check", "rules", str(path)], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    exported = len(RULES.rules) - len(skipped_rules(RULES))
    assert f"SUCCESS: {exported} rules found" in checked.stdout


def test_every_measured_rule_is_exported_with_its_thresholds_and_routing() -> None:
    exported = _exported()
    skipped = {r.name for r in skipped_rules(RULES)}
    assert skipped == {"HighMemoryUsage", "HighGpuUtilization"}
    assert set(exported) == {r.name for r in RULES.rules} - skipped
    header = export_prometheus(RULES).split("groups:")[0]
    assert "HighMemoryUsage: memory_utilization" in header
    for rule in RULES.rules:
        if rule.name in skipped:
            continue
        prom = exported[rule.name]
        assert f") {rule.op} {rule.threshold:g}" in str(prom["expr"])
        assert prom.get("for", "0s") == rule.for_
        labels = prom["labels"]
        assert isinstance(labels, dict)
        assert labels["severity"] == rule.level and labels["channels"] == ",".join(rule.channels)
        assert labels["rules_version"] == str(RULES.version)
    assert exported["HighErrorRate"]["keep_firing_for"] == "5m"
    assert "keep_firing_for" not in exported["PrivacyViolation"]


def test_the_promql_reads_only_metrics_coachline_exports() -> None:
    known = set(REGISTRY._names_to_collectors)  # every sample name: _total, _bucket, _sum, _count
    referenced = set()
    for rule in _exported().values():
        referenced |= set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\{", str(rule["expr"])))
    assert referenced, "the expressions name no metric"
    assert referenced <= known, referenced - known
    assert set(QUERIES) | {"memory_utilization", "gpu_utilization"} == set(SIGNALS)


def test_the_error_rate_rule_fires_in_prometheus_after_its_for(tmp_path: Path) -> None:
    """promtool's unit tests run the exported expression on synthetic series."""
    promtool = _promtool()
    (tmp_path / "rules.yaml").write_text(export_prometheus(RULES))
    finished = "coachline_requests_finished_total"
    tests = {
        "rule_files": ["rules.yaml"],
        "evaluation_interval": "1m",
        "tests": [
            {
                "interval": "1m",
                "input_series": [
                    # 120 requests a minute, 12 of them failed: a 10 % error rate from minute 0.
                    {
                        "series": f'{finished}{{status="succeeded",processing_mode="local"}}',
                        "values": "0+108x30",
                    },
                    {"series": f'{finished}{{status="failed",processing_mode="local"}}', "values": "0+12x30"},
                ],
                "alert_rule_test": [
                    {"eval_time": "4m", "alertname": "HighErrorRate", "exp_alerts": []},
                    {
                        "eval_time": "12m",
                        "alertname": "HighErrorRate",
                        "exp_alerts": [
                            {
                                "exp_labels": {
                                    "severity": "critical",
                                    "channels": "pagerduty,slack",
                                    "escalation": "performance",
                                    "rules_version": str(RULES.version),
                                },
                                "exp_annotations": _exported()["HighErrorRate"]["annotations"],
                            }
                        ],
                    },
                ],
            }
        ],
    }
    (tmp_path / "tests.yaml").write_text(yaml.safe_dump(tests, sort_keys=False))
    result = subprocess.run(
        [promtool, "test", "rules", "tests.yaml"], cwd=tmp_path, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_worker_role_serves_its_metrics_on_its_port() -> None:
    import httpx

    from coachline.telemetry.metrics import QUEUE_DEPTH, start_metrics_server
    from tests.conftest import free_port

    QUEUE_DEPTH.labels(queue="pool.fast").set(7)
    port = free_port()
    server = start_metrics_server(port, host="127.0.0.1")
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=5).text
    finally:
        server.shutdown()
        server.server_close()
    assert 'coachline_queue_depth{queue="pool.fast"} 7.0' in text
    assert "# TYPE local_processing_rate gauge" in text
