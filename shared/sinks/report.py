"""The run report a sink stores (s3): the run summary as JSON and as Markdown."""

from __future__ import annotations

from typing import Any

from ..models.run import Run


def report_json(run: Run, *, link: str | None) -> dict[str, Any]:
    doc = run.summary()
    doc["namespace"] = run.namespace
    if link:
        doc["link"] = link
    return doc


def report_markdown(run: Run, *, link: str | None) -> str:
    alert = run.alert or {}
    title = alert.get("alertname") or run.workflow
    lines = [f"# {title}: {run.phase.value}", "",
             f"- Run: `{run.id}`" + (f" ({link})" if link else ""),
             f"- Workflow: `{run.workflow}`",
             f"- Started: {run.startTime}", f"- Finished: {run.completionTime or '-'}"]
    if alert:
        lines += [f"- Alert: {alert.get('alertname')} ({alert.get('severity') or 'no severity'})",
                  f"- Fingerprint: `{alert.get('fingerprint') or '-'}`"]
        if alert.get("summary"):
            lines.append(f"- Alert summary: {alert['summary']}")
    if run.error:
        lines += ["", "## Error", "", run.error]
    if run.outputs:
        lines += ["", "## Outputs", ""]
        for name, value in run.outputs.items():
            lines += [f"### {name}", "", str(value), ""]
    lines += ["", "## Steps", "", "| step | phase | error |", "|---|---|---|"]
    lines += [f"| {s.name} | {s.phase.value} | {(s.error or '').replace('|', '/')} |" for s in run.steps]
    return "\n".join(lines).rstrip() + "\n"
