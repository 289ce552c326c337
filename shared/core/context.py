"""The template context of a run (ARCHITECTURE 3), built from the run alone.

Templates see only what the run pinned: the alert, the source's `context`, step results,
the workflow's outputs, timing and phase, and `runtime.environment`; steps, outputs and
sinks all render against this one context. The function's own process
environment (Redis URL, credentials) is never exposed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ..models.events import EventType
from ..models.run import Run, StepPhase


def go_duration(seconds: float) -> str:
    """A duration as Go's time.Duration prints it (`1m12s`, `1h0m5s`, `850ms`, `0s`),
    rounded to whole seconds from one second up: what the earlier system's templates show."""
    if seconds < 1:
        return f"{round(seconds * 1000)}ms" if seconds > 0 else "0s"
    total = round(seconds)
    hours, rest = divmod(total, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes}m{secs}s"
    return f"{minutes}m{secs}s" if minutes else f"{secs}s"


def _elapsed(start: str | None, end: str | None) -> str:
    if not start or not end:
        return ""
    try:
        return go_duration(max(0.0, (datetime.fromisoformat(end) - datetime.fromisoformat(start)).total_seconds()))
    except ValueError:
        return ""


def build_context(run: Run) -> dict[str, Any]:
    ns, name = run.namespace, run.workflow_name
    src_ns, _, src_name = (run.source or "/").partition("/")
    steps: dict[str, Any] = {}
    for s in run.steps:
        steps[s.name] = {
            "result": s.result if s.result is not None else {},
            "output": s.output,
            "stderr": s.stderr,
            "exitCode": s.exitCode,
            "error": s.error or "",
            "success": s.phase is StepPhase.SUCCEEDED,
            "phase": s.phase.value,
        }
    alert = run.alert or {}
    return {
        "source": {
            "name": src_name,
            "namespace": src_ns,
            "context": dict(run.sourceContext),
            # the alert as `.source.data.alert.*` and, as the earlier system's test
            # pipeline writes it, its fields directly (`.source.data.alertname`)
            "data": {**alert, "alert": alert} if run.alert is not None else (run.data or {}),
        },
        "alert": alert,
        "event": run.data if run.alert is None else alert,
        "steps": steps,
        "workflow": {
            "name": name,
            "namespace": ns,
            "outputs": dict(run.outputs),
            "startedAt": run.startTime,
            "completedAt": run.completionTime or "",
            "duration": _elapsed(run.startTime, run.completionTime),
            "status": run.phase.value,
        },
        "env": dict(run.environment),
        "run": {"id": run.id, "phase": run.phase.value, "startTime": run.startTime},
        # a run a workflow sink chained sees its parent: `.parent.outputs.x`, `.parent.run.id`
        "parent": _parent(run),
    }


def _parent(run: Run) -> dict[str, Any]:
    if run.eventType != EventType.WORKFLOW_CHAINED.value or not isinstance(run.data, dict):
        return {}
    parent = run.data.get("parent")
    return dict(parent) if isinstance(parent, dict) else {}
