"""Write access for approval-gated steps only: the opt-in of deploy/knative/overlays/step-writer.

By default step-cli and step-agent run as `cutman-step-reader` (read-only). An operator
who wants approved remediations to change the cluster installs the step-writer overlay:
two more Services, `cutman-step-cli-writer` and `cutman-step-agent-writer`, running as
`cutman-step-writer`, and `CUTMAN_STEP_WRITERS=true` on the reconciler. Then, and only
then, the Trigger of a step with `approvalRequired: true` subscribes the writer Service
instead (this module, applied to the plan); every other step keeps the read-only one.
The writer Services themselves refuse any step that is not approval-gated and approved
(cutman.stepfunction), so a misrouted event cannot borrow their rights.

Pure: rewrites planned Trigger objects; no I/O.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from ..models.events import Ext
from .labels import LABEL_NAMESPACE, LABEL_ROLE, LABEL_WORKFLOW

if TYPE_CHECKING:  # the reconciler reads writers_enabled() at start, before any model is needed
    from ..models.resources import Workflow

WRITER_SUFFIX = "-writer"
ENV = "CUTMAN_STEP_WRITERS"


def writers_enabled(cfg: Mapping[str, str]) -> bool:
    return cfg.get(ENV, "").strip().lower() in ("1", "true", "yes")


def route_approved_steps(objects: Iterable[dict[str, Any]], workflows: Iterable[Workflow]) -> list[dict[str, Any]]:
    """The plan with each approval-gated step's Trigger pointed at its writer Service."""
    gated = {(w.metadata.namespace, w.metadata.name, s.name)
             for w in workflows for s in w.spec.steps if s.approval_required}
    out = []
    for obj in objects:
        labels = (obj.get("metadata") or {}).get("labels") or {}
        attrs = ((obj.get("spec") or {}).get("filter") or {}).get("attributes") or {}
        key = (labels.get(LABEL_NAMESPACE), labels.get(LABEL_WORKFLOW), attrs.get(Ext.STEP.value))
        if obj.get("kind") == "Trigger" and labels.get(LABEL_ROLE) == "step" and key in gated:
            obj = copy.deepcopy(obj)
            ref = obj["spec"]["subscriber"]["ref"]
            ref["name"] = ref["name"] + WRITER_SUFFIX
        out.append(obj)
    return out
