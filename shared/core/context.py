"""The template context of a run (ARCHITECTURE 3), built from the run alone.

Templates see only what the run pinned: the alert, the source's `context`, step results,
the workflow's outputs and `runtime.environment`. The function's own process
environment (Redis URL, credentials) is never exposed.
"""

from __future__ import annotations

from typing import Any

from ..models.run import Run, StepPhase


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
            "data": {"alert": alert} if run.alert is not None else (run.data or {}),
        },
        "alert": alert,
        "event": run.data if run.alert is None else alert,
        "steps": steps,
        "workflow": {"name": name, "namespace": ns, "outputs": dict(run.outputs)},
        "env": dict(run.environment),
        "run": {"id": run.id, "phase": run.phase.value, "startTime": run.startTime},
    }
