"""The rules file as a Prometheus rules file, for those who alert with Prometheus and Alertmanager.

Each rule metric maps to a PromQL expression in the rule's own unit over metrics coachline exports
(the histograms and counters of the API and workers where they exist, the scheduler's gauges
for what only the database knows). Same thresholds, durations and routing; Prometheus computes
over its own scrapes, so values near a threshold can differ slightly from coachline's rollups.
Rules whose input coachline does not measure are left out and listed in the file's header.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import yaml

from scheduler.alerts.rules import Rule, RuleSet


@dataclass(frozen=True)
class Query:
    expr: str  # placeholders: {window}, {baseline}, {by}, {le_by}
    labels: frozenset[str] = frozenset()  # what `by:` may group on
    samples: str | None = None  # observations in the window, for `min_samples`


def _quantile(q: float, histogram: str) -> str:
    return (
        f"1000 * histogram_quantile({q}, sum by (le{{le_by}}) (rate({histogram}_bucket{{{{}}}}[{{window}}])))"
    )


def _ratio(numerator: str, denominator: str) -> str:
    return (
        f"sum by ({{by}}) (rate({numerator}[{{window}}])) / sum by ({{by}}) (rate({denominator}[{{window}}]))"
    )


def _gauge_avg(name: str) -> str:
    # One series per scraped scheduler process; they agree, so max() keeps one.
    return f'max by ({{by}}) (avg_over_time({name}{{{{window="1m"}}}}[{{window}}]))'


_LATENCY = "coachline_request_latency_seconds"
_TTFT = "llm_time_to_first_token_seconds"
_FINISHED = "coachline_requests_finished_total"
_RATING = "response_quality_score"
_JUDGE = 'coachline_evaluator_score_{part}{{{{evaluator=~"judge:.*"}}}}'
_LATENCY_LABELS = frozenset({"tier", "processing_mode"})

QUERIES: dict[str, Query] = {
    "latency_p50_ms": Query(
        _quantile(0.5, _LATENCY),
        _LATENCY_LABELS,
        f"sum by ({{by}}) (increase({_LATENCY}_count{{{{}}}}[{{window}}]))",
    ),
    "latency_p95_ms": Query(
        _quantile(0.95, _LATENCY),
        _LATENCY_LABELS,
        f"sum by ({{by}}) (increase({_LATENCY}_count{{{{}}}}[{{window}}]))",
    ),
    "latency_p99_ms": Query(
        _quantile(0.99, _LATENCY),
        _LATENCY_LABELS,
        f"sum by ({{by}}) (increase({_LATENCY}_count{{{{}}}}[{{window}}]))",
    ),
    "latency_mean_ms": Query(
        "1000 * " + _ratio(f"{_LATENCY}_sum{{{{}}}}", f"{_LATENCY}_count{{{{}}}}"), _LATENCY_LABELS
    ),
    "ttft_p95_ms": Query(
        _quantile(0.95, _TTFT),
        frozenset({"processing_mode", "pool", "model"}),
        f"sum by ({{by}}) (increase({_TTFT}_count{{{{}}}}[{{window}}]))",
    ),
    "error_rate": Query(
        _ratio(f'{_FINISHED}{{{{status=~"failed|expired"}}}}', f"{_FINISHED}{{{{}}}}"),
        frozenset({"processing_mode"}),
        f"sum by ({{by}}) (increase({_FINISHED}{{{{}}}}[{{window}}]))",
    ),
    "fallback_rate": Query(_gauge_avg("coachline_fallback_rate")),
    "local_processing_rate": Query(_gauge_avg("local_processing_rate")),
    "cost_savings_percentage": Query(_gauge_avg("cost_savings_percentage")),
    "mean_rating": Query(
        _ratio(f"{_RATING}_sum{{{{}}}}", f"{_RATING}_count{{{{}}}}"),
        frozenset({"pool", "model"}),
        f"sum by ({{by}}) (increase({_RATING}_count{{{{}}}}[{{window}}]))",
    ),
    "correction_rate": Query(
        _ratio('coachline_feedback_total{{correction="true"}}', "coachline_feedback_total{{}}")
    ),
    "clarification_rate": Query(
        _ratio('coachline_feedback_total{{clarification_requested="true"}}', "coachline_feedback_total{{}}")
    ),
    "judge_score": Query(
        _ratio(_JUDGE.format(part="sum"), _JUDGE.format(part="count")),
        samples="sum by ({by}) (increase(" + _JUDGE.format(part="count") + "[{window}]))",
    ),
    # A count over the window in coachline; here the worst minute in it (the same for "> 0").
    "privacy_violations": Query(
        'max by ({by}) (max_over_time(coachline_privacy_violations{{window="1m"}}[{window}]))'
    ),
    "daily_cost_usd": Query(
        "sum by ({by}) (rate(coachline_cost_usd_total{{}}[{window}])) * 86400", frozenset({"processing_mode"})
    ),
    "cost_spike_ratio": Query(
        "sum by ({by}) (rate(coachline_cost_usd_total{{}}[{window}]))"
        " / sum by ({by}) (rate(coachline_cost_usd_total{{}}[{baseline}] offset {window}))",
        frozenset({"processing_mode"}),
    ),
    "health_level": Query("max by ({by}) (coachline_model_health_level{{}})", frozenset({"model"})),
}


class ExportError(ValueError):
    """A rule that cannot be written as PromQL over coachline's metrics."""


def expression(rule: Rule, rules: RuleSet) -> str:
    query = QUERIES[rule.metric]
    missing = set(rule.by) - query.labels
    if missing:
        raise ExportError(
            f"rule {rule.name}: {rule.metric} has no label {', '.join(sorted(missing))} in Prometheus"
        )
    by = ", ".join(rule.by)
    fill = {
        "window": rule.window,
        "baseline": rule.baseline or "",
        "by": by,
        "le_by": f", {by}" if by else "",
    }
    condition = f"({query.expr.format(**fill)}) {rule.op} {rule.threshold:g}"
    min_samples = rules.min_samples(rule)
    if query.samples is not None and min_samples > 1:
        condition = f"{condition} and on({by}) ({query.samples.format(**fill)}) >= {min_samples}"
    return condition


def _rule(rule: Rule, rules: RuleSet) -> dict[str, Any]:
    out: dict[str, Any] = {"alert": rule.name, "expr": expression(rule, rules)}
    if rule.for_td.total_seconds() > 0:
        out["for"] = rule.for_
    keep = rules.keep_firing_for(rule)
    if keep.total_seconds() > 0:
        out["keep_firing_for"] = rule.keep_firing_for or rules.defaults.keep_firing_for
    steps = rules.escalation_policies[rule.escalation]
    out["labels"] = {
        "severity": rule.level,
        "channels": ",".join(rule.channels),
        "escalation": rule.escalation,
        "rules_version": str(rules.version),
    }
    out["annotations"] = {
        "summary": rule.summary,
        "description": f"{rule.expression} over {rule.window} (coachline rule {rule.name})",
        "escalation": "; ".join(
            f"level {s.level} after {s.after}: {', '.join(s.stakeholders)}" for s in steps
        ),
    }
    if rule.source:
        out["annotations"]["source"] = " ".join(rule.source.split())
    return out


def skipped_rules(rules: RuleSet) -> list[Rule]:
    return [r for r in rules.rules if r.metric not in QUERIES]


def export_prometheus(rules: RuleSet) -> str:
    """The Prometheus rules file (YAML) for ``rules``."""
    skipped = skipped_rules(rules)
    header = [
        "# Generated by `coachline alerts export-prometheus` from coachline's alert rules,"
        f" version {rules.version}.",
        "# Do not edit: change the rules file and export again.",
    ]
    if skipped:
        header.append("# Left out (coachline does not export their inputs):")
        header.extend(f"#   {r.name}: {r.metric}" for r in skipped)
    exported = [_rule(r, rules) for r in rules.rules if r.metric in QUERIES]
    body = yaml.safe_dump(
        {"groups": [{"name": "coachline", "rules": exported}]},
        sort_keys=False,
        width=10_000,
        allow_unicode=True,
    )
    return "\n".join(header) + "\n" + body
