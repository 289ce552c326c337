"""The workflow sink: a finished run starts `workflowName` (same namespace) when
`triggerCondition` holds.

It replies a `dev.cutman.workflow.chained` event (extension `cmchain` = the target
`ns/workflow`), which the target's chain Trigger routes to its first step as a start
event. The chained run sees its parent: `.parent.outputs.x`, `.parent.run.id`,
`.parent.run.phase`, `.parent.workflow.name`, and the parent's alert as its own `.alert`.
The event id is derived from (parent run, sink), so a redelivery starts the same child
run, not a second one: safe to repeat, and a redelivery after Delivered replies the
event again (the first reply may have been lost).

A chain is bounded: a run already `MAX_DEPTH` links down a chain, or one whose chain
already passed through the target workflow (a loop, A → B → A), is not started; the
delivery fails with a message naming the chain, on the run and in the Sink's lastError.
"""

from __future__ import annotations

from typing import Any, ClassVar

from ..core import ids
from ..core.templating import is_truthy, render
from ..errors import PermanentError
from ..models.cloudevent import make_event
from ..models.events import EventType, Ext
from ..models.resources import NAME_RE, SinkType
from .base import Delivery, Params, Ports, Skip
from .payload import check_templates

MAX_DEPTH = 5


class WorkflowParams(Params):
    workflow_name: str
    trigger_condition: str | None = None


def chain_of(delivery: Delivery) -> list[str]:
    """Workflows the parent run's chain passed through, the parent's own last."""
    run = delivery.run
    earlier: list[str] = []
    if run.eventType == EventType.WORKFLOW_CHAINED.value and isinstance(run.data, dict):
        earlier = [str(w) for w in run.data.get("chain") or []]
    return [*earlier, run.workflow]


class WorkflowSink:
    type: ClassVar[Any] = SinkType.WORKFLOW
    params: ClassVar[type[Params]] = WorkflowParams
    idempotent: ClassVar[bool] = True
    # a redelivery after Delivered replies the same chain event (same id) again
    replays: ClassVar[bool] = True

    def check(self, params: WorkflowParams) -> None:
        from ..errors import Invalid

        if not NAME_RE.match(params.workflow_name):
            raise Invalid(f"config.workflowName: {params.workflow_name!r} is not a Workflow name",
                          field="spec.config.workflowName")
        check_templates(params, params.trigger_condition)

    async def deliver(self, delivery: Delivery, ports: Ports) -> str:
        p: WorkflowParams = delivery.params
        if delivery.approval:
            raise Skip("approval requests start no workflow")
        if p.trigger_condition and not is_truthy(render(p.trigger_condition, delivery.context)):
            raise Skip("triggerCondition is false")
        run = delivery.run
        target = f"{run.namespace}/{p.workflow_name}"
        chain = chain_of(delivery)
        if target in chain:
            path = " → ".join([*chain, target])
            raise PermanentError(f"workflow sink: starting {target} would loop ({path}); not started")
        if len(chain) > MAX_DEPTH:
            raise PermanentError(f"workflow sink: the chain {' → '.join(chain)} is already {len(chain)} "
                                 f"workflows deep (at most {MAX_DEPTH + 1}); {target} not started")
        parent = {
            "run": {"id": run.id, "phase": run.phase.value, "workflow": run.workflow, "error": run.error or ""},
            "workflow": {"name": run.workflow_name, "namespace": run.namespace, "outputs": dict(run.outputs)},
            "outputs": dict(run.outputs),
            "alert": run.alert,
        }
        event = make_event(
            id=ids.reply_event_id(run=run.id, what=f"chain:{delivery.sink}"),
            type=EventType.WORKFLOW_CHAINED, source=f"/cutman/sinks/{delivery.sink}",
            data={"parent": parent, "chain": chain},
            extensions={Ext.CHAIN: target, Ext.RUN: run.id, Ext.WORKFLOW: run.workflow})
        ports.emit(event)
        return f"started {target} (chain depth {len(chain)})"
