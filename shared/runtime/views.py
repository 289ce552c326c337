"""How runs are shown: the JSON view (`-o json`) and human tables. Pure formatting."""

from __future__ import annotations

import json
from typing import Any

from .. import clock
from ..models.run import Run


def _duration(start: str | None, end: str | None) -> float | None:
    if not start or not end:
        return None
    return round((clock.parse(end) - clock.parse(start)).total_seconds(), 3)


def run_view(run: Run, sinks: dict[str, dict[str, Any]] | None = None, *, full: bool = True) -> dict[str, Any]:
    steps = []
    for s in run.steps:
        step: dict[str, Any] = {
            "name": s.name, "type": s.type.value, "phase": s.phase.value, "result": s.result,
            "error": s.error, "exitCode": s.exitCode, "attempts": s.attempts,
            "startTime": s.startTime, "completionTime": s.completionTime,
            "durationSeconds": _duration(s.startTime, s.completionTime),
        }
        if s.toolCalls or s.usage:
            step.update(toolCalls=s.toolCalls, usage=s.usage)
        if s.approval is not None:
            step["approval"] = s.approval.model_dump(mode="json")
        if full:
            step.update(output=s.output, stderr=s.stderr)
            if s.transcript is not None:
                step["transcript"] = s.transcript
        steps.append(step)
    alert = run.alert or {}
    return {
        "id": run.id,
        "workflow": run.workflow,
        "source": run.source,
        "phase": run.phase.value,
        "startTime": run.startTime,
        "completionTime": run.completionTime,
        "durationSeconds": _duration(run.startTime, run.completionTime),
        "error": run.error,
        "alert": {k: alert.get(k) for k in ("alertname", "severity", "summary", "fingerprint", "labels")}
        if alert else None,
        "steps": steps,
        "outputs": run.outputs,
        "sinks": sinks or {},
    }


def duration_text(seconds: float | None) -> str:
    return f"{seconds:.2f}s" if seconds is not None else "-"


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    lines = ["   ".join(str(c).ljust(w) for c, w in zip(r, widths)).rstrip() for r in [header, *rows]]
    return "\n".join(lines)


def runs_table(runs: list[Run]) -> str:
    rows = []
    for r in runs:
        done = sum(1 for s in r.steps if s.phase.done)
        dur = _duration(r.startTime, r.completionTime)
        rows.append([r.id, r.workflow, r.phase.value, f"{done}/{len(r.steps)}", r.startTime,
                     f"{dur:.2f}s" if dur is not None else "-", (r.alert or {}).get("alertname", "")])
    return table(rows, ["ID", "WORKFLOW", "PHASE", "STEPS", "STARTED", "DURATION", "ALERT"])


def _brief(value: Any, limit: int = 160) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(", ", ": "), default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 3] + "..."


def _step_details(steps: list[dict[str, Any]]) -> list[str]:
    """Per step: its result, the approval asked, and for agent steps each tool call."""
    out: list[str] = []
    for s in steps:
        lines = []
        if s["result"]:
            lines.append(f"  result: {_brief(s['result'])}")
        if s.get("approval"):
            a = s["approval"]
            lines.append(f"  approval: {a.get('decision') or 'pending'}"
                         + (f" by {a['decidedBy']}" if a.get("decidedBy") else f" (expires {a['expiresAt']})"))
        for call in s.get("toolCalls") or []:
            status = "ok" if call.get("ok") else f"error: {_brief(call.get('error', ''), 80)}"
            lines.append(f"  tool {call['name']} {_brief(call.get('arguments'), 80)} "
                         f"{call.get('durationSeconds', 0):.2f}s {status}")
        if s.get("usage"):
            lines.append(f"  tokens: {s['usage'].get('total_tokens', 0)} in {s['usage'].get('calls', 0)} model calls")
        if lines:
            out += ["", f"{s['name']}:", *lines]
    return out


def run_details(view: dict[str, Any]) -> str:
    out = [f"Run:       {view['id']}", f"Workflow:  {view['workflow']}", f"Phase:     {view['phase']}",
           f"Started:   {view['startTime']}", f"Completed: {view['completionTime'] or '-'}"]
    if view["alert"]:
        a = view["alert"]
        out.append(f"Alert:     {a['alertname']} ({a['severity'] or 'no severity'}) {a['summary'] or ''}".rstrip())
    if view["error"]:
        out.append(f"Error:     {view['error']}")
    out += ["", table([[s["name"], s["type"], s["phase"],
                        f"{s['durationSeconds']:.2f}s" if s["durationSeconds"] is not None else "-",
                        (s["error"] or "")[:80]] for s in view["steps"]],
                      ["STEP", "TYPE", "PHASE", "DURATION", "ERROR"])]
    out += _step_details(view["steps"])
    if view["outputs"]:
        out += ["", "Outputs:"] + [f"  {k}: {v}" for k, v in view["outputs"].items()]
    if view["sinks"]:
        out += ["", "Sinks:"] + [f"  {k}: {v.get('phase')} {v.get('detail', '')}" for k, v in view["sinks"].items()]
    return "\n".join(out)
