"""`kubectl`: read-only cluster inspection (get, describe, logs, top, events).

Arguments are validated against strict patterns (names are DNS-1123, nothing may start
with '-') and passed as argv entries to the real `kubectl` binary, never through a
shell, so `--kubeconfig=...` or `$(...)` from an alert is refused, not run. Where no
`kubectl` is installed the tool says so.
"""

from __future__ import annotations

import os
import shutil
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ...subproc import BASE_ENV, run_capped
from .base import Tool, ToolContext, ToolError

NAME = r"^[a-z0-9]([-a-z0-9.]*[a-z0-9])?$"
RESOURCE = r"^[a-z][a-z0-9.]*(/[a-z0-9]([-a-z0-9.]*[a-z0-9])?)?$"
IN_CLUSTER = ("KUBERNETES_SERVICE_HOST", "KUBERNETES_SERVICE_PORT")
SELECTOR = r"^[A-Za-z0-9][A-Za-z0-9._/=!,() -]*$"


class Verb(StrEnum):
    GET = "get"
    DESCRIBE = "describe"
    LOGS = "logs"
    TOP = "top"
    EVENTS = "events"


class KubectlParams(BaseModel):
    model_config = ConfigDict(extra="forbid")

    verb: Verb
    resource: str | None = Field(default=None, pattern=RESOURCE, max_length=253,
                                 description="e.g. pods, deployment/web, nodes (not for logs/events)")
    name: str | None = Field(default=None, pattern=NAME, max_length=253, description="object name (pod for logs)")
    namespace: str | None = Field(default=None, pattern=NAME, max_length=63)
    selector: str | None = Field(default=None, pattern=SELECTOR, max_length=253, description="label selector")
    container: str | None = Field(default=None, pattern=NAME, max_length=63)
    tail: int | None = Field(default=None, ge=1, le=5000, description="logs: last N lines")
    previous: bool = False
    all_namespaces: bool = False


def build_argv(p: KubectlParams) -> list[str]:
    """The argv for a validated call; refuses combinations that make no sense."""
    argv = ["kubectl", "--request-timeout=20s"]
    if p.verb is Verb.LOGS:
        if not p.name:
            raise ToolError("logs needs `name` (the pod)")
        argv += ["logs", p.name, f"--tail={p.tail or 200}"]
        if p.container:
            argv.append(f"--container={p.container}")
        if p.previous:
            argv.append("--previous")
    elif p.verb is Verb.EVENTS:
        argv += ["get", "events", "--sort-by=.lastTimestamp"]
        if p.name:
            argv.append(f"--field-selector=involvedObject.name={p.name}")
    else:
        if not p.resource:
            raise ToolError(f"{p.verb.value} needs `resource`")
        if p.verb is Verb.TOP and p.resource not in ("pods", "pod", "nodes", "node"):
            raise ToolError("top works on pods or nodes")
        argv += [p.verb.value, p.resource]
        if p.name:
            argv.append(p.name)
    if p.selector:
        argv.append(f"--selector={p.selector}")
    if p.all_namespaces:
        argv.append("--all-namespaces")
    elif p.namespace:
        argv.append(f"--namespace={p.namespace}")
    return argv


class Kubectl(Tool):
    name = "kubectl"
    description = "Read-only kubectl: get, describe, logs, top or events for cluster objects."

    def params_model(self) -> type[BaseModel]:
        return KubectlParams

    async def run(self, params: Any, ctx: ToolContext) -> str:
        argv = build_argv(params)
        binary = shutil.which("kubectl", path=ctx.env.get("PATH", BASE_ENV["PATH"]))
        if binary is None:
            raise ToolError("kubectl is not available where this agent runs")
        env = {**BASE_ENV, **{k: v for k, v in ctx.env.items() if k in ("KUBECONFIG", "PATH")}}
        env.update({k: v for k, v in os.environ.items() if k in IN_CLUSTER})
        res = await run_capped([binary, *argv[1:]], env=env, timeout_s=ctx.timeout_s, cap=ctx.output_limit)
        if res.start_error or res.timed_out:
            raise ToolError(res.start_error or "kubectl timed out")
        if res.exit_code != 0:
            raise ToolError(f"kubectl exited {res.exit_code}: {res.stderr.strip()[-500:]}")
        return res.stdout
