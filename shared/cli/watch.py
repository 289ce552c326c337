"""`cutman runs watch [RUN]` / `get runs -w`: a run's progress, one line per change, until done.

The watcher polls the backend (local Redis or the HTTP API alike) and prints what
changed since the last look: the run's phase, each step entering a phase (with its
duration and error when it ends), the outputs, then the sink deliveries. Without a run
id it follows the next run that starts (or the newest one still under way). The exit
code is the run's: 0 Succeeded, 1 Failed.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

from ..errors import NotFound
from ..runtime.views import duration_text
from .backend import Backend

POLL_S = 0.25
SINK_GRACE_S = 10.0


def _say(line: str) -> None:
    print(line, flush=True)


async def _pick(be: Backend, namespace: str | None, timeout_s: float | None) -> str:
    """The newest run still under way, else the next run to start."""
    seen = {r["id"] for r in await be.runs(namespace=namespace, workflow=None, limit=20)}
    for r in await be.runs(namespace=namespace, workflow=None, limit=20):
        if r["phase"] not in ("Succeeded", "Failed"):
            return str(r["id"])
    _say("waiting for a run to start ...")
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while deadline is None or time.monotonic() < deadline:
        await asyncio.sleep(POLL_S)
        for r in await be.runs(namespace=namespace, workflow=None, limit=20):
            if r["id"] not in seen:
                return str(r["id"])
    raise NotFound(f"no run started within {timeout_s:g}s")


def step_line(step: dict[str, Any], width: int) -> str:
    line = f"  {step['name'].ljust(width)}  {step['phase']}"
    if step["phase"] in ("Succeeded", "Failed", "Skipped") and step.get("durationSeconds") is not None:
        line += f"  {duration_text(step['durationSeconds'])}"
    if step.get("error"):
        line += f"  {step['error']}"
    approval = step.get("approval") or {}
    if step["phase"] == "AwaitingApproval" and approval.get("expiresAt"):
        line += f"  (cutman approve RUN {step['name']}; expires {approval['expiresAt']})"
    return line


async def _sinks_expected(be: Backend, run: dict[str, Any]) -> int:
    ns, _, name = str(run.get("workflow", "")).partition("/")
    from ..models.resources import Kind

    doc = await be.resource(Kind.WORKFLOW, ns, name)
    return len(((doc or {}).get("spec") or {}).get("sinks") or [])


async def watch_run(be: Backend, run_id: str | None, *, namespace: str | None,
                    timeout_s: float | None = None) -> int:
    run_id = run_id or await _pick(be, namespace, timeout_s)
    seen: dict[str, str] = {}
    phase = None
    deadline = None if timeout_s is None else time.monotonic() + timeout_s
    while True:
        run = await be.run(run_id)
        if run is None:
            raise NotFound(f'run "{run_id}" not found')
        if phase is None:
            _say(f"run {run['id']} ({run['workflow']}) started {run['startTime']}")
        width = max((len(s["name"]) for s in run["steps"]), default=4)
        for step in run["steps"]:
            if seen.get(step["name"]) != step["phase"] and step["phase"] != "Pending":
                seen[step["name"]] = step["phase"]
                _say(step_line(step, width))
        if run["phase"] != phase:
            phase = run["phase"]
            if phase in ("Succeeded", "Failed"):
                break
            if phase == "AwaitingApproval":
                _say(f"run {run['id']} awaits approval")
        if deadline is not None and time.monotonic() > deadline:
            print(f"error: run {run_id} still {phase} after {timeout_s:g}s", file=sys.stderr)
            return 1
        await asyncio.sleep(POLL_S)
    _say(f"run {run['id']} {phase} in {duration_text(run.get('durationSeconds'))}"
         + (f": {run['error']}" if run.get("error") else ""))
    for k, v in (run.get("outputs") or {}).items():
        _say(f"  outputs.{k}: {v}")
    expected = await _sinks_expected(be, run)
    grace = time.monotonic() + SINK_GRACE_S
    while len(run.get("sinks") or {}) < expected and time.monotonic() < grace:
        await asyncio.sleep(POLL_S)
        run = await be.run(run_id) or run
    for name, rec in sorted((run.get("sinks") or {}).items()):
        _say(f"  sink {name}: {rec.get('phase')} {rec.get('detail', '')}".rstrip())
    return 0 if phase == "Succeeded" else 1
