"""``coachline router``: evaluate and calibrate routing on labelled JSONL traffic."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from coachline.settings import get_settings


@click.group("router")
def router_group() -> None:
    """Routing evaluation and calibration."""


def _cases(path: Path) -> list[dict[str, object]]:
    from router.scoring.evaluate import load_cases

    try:
        return load_cases(path)
    except ValueError as e:
        raise click.ClickException(str(e)) from e


@router_group.command("eval")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
def eval_command(path: Path) -> None:
    """Privacy recall, public false positives, confusion matrix, complexity agreement and decision
    time on FILE (the format of the sample file). Exits 1 when a sensitive request would leave."""
    from router.evaluation import evaluate_routing, format_routing
    from router.policy import Thresholds
    from router.scoring.evaluate import evaluate, format_report

    settings = get_settings()
    cases = _cases(path)
    click.echo(format_report(evaluate(cases)))
    thresholds = Thresholds(fast_max=settings.tier_fast_max, standard_max=settings.tier_standard_max)
    report = evaluate_routing(cases, settings.pools, thresholds)
    click.echo("")
    click.echo(format_routing(report))
    sys.exit(1 if report.violations else 0)


@router_group.command("calibrate")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option(
    "--cloud-share",
    type=click.FloatRange(0, 1),
    required=True,
    help="The share of this traffic that should go to the cloud (0..1).",
)
def calibrate_command(path: Path, cloud_share: float) -> None:
    """The complexity threshold (COACHLINE_TIER_STANDARD_MAX) that sends about CLOUD_SHARE of
    FILE's traffic to the cloud."""
    from router.scoring import calibrate_threshold, score_complexity

    scores = [score_complexity(case["messages"]).score for case in _cases(path)]  # type: ignore[arg-type]
    threshold = calibrate_threshold(scores, cloud_share)
    above = sum(1 for s in scores if s > threshold)
    click.echo(f"COACHLINE_TIER_STANDARD_MAX={threshold:.4f}  ({above} of {len(scores)} requests above it)")
