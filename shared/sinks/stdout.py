"""The stdout sink: prints the rendered template (or the run summary) to the sink's stdout.

In a cluster that is the pod log; in `cutman dev` it is the terminal. `format: text`
prints a few human lines instead of JSON when there is no template.
"""

from __future__ import annotations

import sys
from typing import Any, ClassVar, Literal

from ..models.resources import SinkType
from .base import Delivery, Params, Ports
from .payload import body, check_templates


class StdoutParams(Params):
    format: Literal["json", "text"] = "json"
    pretty: bool = False


def _text(delivery: Delivery) -> str:
    run = delivery.run
    alert = run.alert or {}
    lines = [f"[cutman] run {run.id} of {run.workflow}: {run.phase.value}"]
    if alert:
        lines.append(f"alert: {alert.get('alertname')} ({alert.get('severity') or 'no severity'})")
    if run.error:
        lines.append(f"error: {run.error}")
    lines += [f"{k}: {v}" for k, v in run.outputs.items()]
    return "\n".join(lines)


class StdoutSink:
    type: ClassVar[Any] = SinkType.STDOUT
    params: ClassVar[type[Params]] = StdoutParams
    idempotent: ClassVar[bool] = False

    def check(self, params: StdoutParams) -> None:
        check_templates(params)

    async def deliver(self, delivery: Delivery, ports: Ports) -> str:
        p: StdoutParams = delivery.params
        if p.format == "text" and not p.template and not delivery.approval:
            text = _text(delivery)
        else:
            text, _ = body(p, delivery.run, delivery.context, pretty=p.pretty)
        sys.stdout.write(text.rstrip("\n") + "\n")
        sys.stdout.flush()
        return f"{len(text)} characters to stdout"
