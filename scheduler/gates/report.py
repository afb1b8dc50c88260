"""A gate report as Markdown, for release owners and the nightly notification."""

from __future__ import annotations

from typing import Any

_STATUS = {"met": "met", "failed": "**FAILED**", "not_measured": "not measured"}
_OUTCOMES = {
    "proceed": "proceed to the next phase",
    "hold": "do not proceed yet",
    "pause_and_reassess": "pause and reassess",
    "pivot_or_discontinue": "pivot or discontinue",
}


def format_value(value: float | None, unit: str) -> str:
    if value is None:
        return "-"
    if unit == "ms":
        return f"{value:,.0f} ms"
    if unit == "s":
        return f"{value:,.1f} s"
    if unit == "ratio":
        return f"{value * 100:.1f} %"
    if unit == "percent":
        return f"{value:.1f} %"
    if unit == "rating":
        return f"{value:.2f}/5"
    if unit == "bool":
        return "yes" if value == 1 else "no"
    if unit == "usd":
        return f"${value:,.0f}"
    if unit == "gb":
        return f"{value:.1f} GB"
    if unit in ("weeks", "months"):
        return f"{value:g} {unit[:-1] if value == 1 else unit}"
    return f"{value:,.0f}" if value == int(value) else f"{value:,.2f}"


def _clock(iso: str) -> str:
    return iso.replace("T", " ").replace("Z", "")[:16] + " UTC"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(report: dict[str, Any]) -> str:
    detail = f"; {report['window_detail']}" if report.get("window_detail") else ""
    out = [
        f"# Gate report: {report['phase']} -- {report['title']}",
        "",
        f"**Verdict: {report['verdict']}** ({_OUTCOMES.get(report['outcome'], report['outcome'])})",
        "",
        f"- Reason: {report['reason']}",
        f"- Evaluated at {_clock(report['evaluated_at'])} over {_clock(report['window_start'])} -> "
        f"{_clock(report['window_end'])}{detail}",
        f"- Plan: {report['plan']} (gates file version {report['gates_version']})",
    ]
    for group in report["groups"]:
        minimum = f"; the phase gate asks for {group['minimum']}" if group.get("minimum") else ""
        out += [
            "",
            f"## {group['name']}: {group['met']} of {group['total']} met{minimum}",
        ]
        if group.get("plan"):
            out.append(f"_{group['plan']}_")
        out += [
            "",
            "| gate | metric | value | needs | status | source / detail |",
            "| --- | --- | --- | --- | --- | --- |",
        ]
        for gate in group["gates"]:
            unit = gate["unit"]
            needs = f"{gate['op']} {format_value(gate['threshold'], unit)}"
            out.append(
                "| "
                + " | ".join(
                    _cell(c)
                    for c in (
                        gate["name"],
                        gate["metric"],
                        format_value(gate["value"], unit),
                        needs,
                        _STATUS[gate["status"]],
                        f"{gate['source']}: {gate['detail']}",
                    )
                )
                + " |"
            )
    if report["not_measured"]:
        out += ["", "## Not measured (counted as not met)", ""]
        for item in report["not_measured"]:
            how = (
                f'POST /v1/metrics/external {{"metric": "{item["metric"]}", "value": ..., "source": ..., '
                '"measured_at": ...}'
                if item["source"] == "external"
                else item["detail"]
            )
            out.append(
                f"- `{item['metric']}` ({item['unit']}, {item['source']}): {item['description']}. {how}"
            )
    return "\n".join(out) + "\n"
