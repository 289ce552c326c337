"""What a sink sends: its template rendered, or by default the run summary as JSON.

A run waiting for approval is announced too (`context["approval"]` is set): with
`approvalTemplate` if given, else a line with the approve/deny links when the sink has a
`template` (a text channel), else the approval itself as JSON.
"""

from __future__ import annotations

import json
from typing import Any

from ..core.templating import check, render
from ..models.resources import SinkSpec
from ..models.run import Run

APPROVAL_TEXT = (
    "[cutman] {{ .approval.workflow }} run {{ .approval.run }} waits for approval of step "
    "{{ .approval.step }} until {{ .approval.expiresAt }}. "
    "Approve: {{ .approval.approveUrl | default .approval.approve }} "
    "Deny: {{ .approval.denyUrl | default .approval.deny }}"
)


def check_template(spec: SinkSpec) -> None:
    for template in (spec.config.template, spec.config.approval_template):
        if template:
            check(template)


def body(spec: SinkSpec, run: Run, context: dict[str, Any]) -> tuple[str, bool]:
    """The text to send and whether it is JSON."""
    approval = context.get("approval")
    template = spec.config.template
    if approval:
        template = spec.config.approval_template or (APPROVAL_TEXT if template else None)
        if template is None:
            return json.dumps(approval, indent=2 if spec.config.pretty else None), True
    if template:
        text = render(template, context)
        try:
            json.loads(text)
            return text, True
        except ValueError:
            return text, False
    indent = 2 if spec.config.pretty else None
    return json.dumps(run.summary(), indent=indent), True
