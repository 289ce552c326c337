"""What a text or JSON sink sends: its template rendered, or by default the run summary.

A run waiting for approval is announced too (`context["approval"]` is set): with
`approvalTemplate` if given, else a line with the approve/deny links when the sink has a
`template` (a text channel), else the approval itself as JSON. A failed run is announced
like a successful one; `.run.phase` and `.run.error` say how it ended. A template that
is a JSON document renders its values with JSON escaping (core/jsontemplate), so an
alert label can neither add a key nor break the document.
"""

from __future__ import annotations

import json
from typing import Any

from ..core.jsontemplate import check_json_template, is_json_template, render_template
from ..core.templating import check
from ..models.run import Run
from .base import Params

APPROVAL_TEXT = (
    "[cutman] {{ .approval.workflow }} run {{ .approval.run }} waits for approval of step "
    "{{ .approval.step }} until {{ .approval.expiresAt }}. "
    "Approve: {{ .approval.approveUrl | default .approval.approve }} "
    "Deny: {{ .approval.denyUrl | default .approval.deny }}"
)


def check_templates(params: Params, *extra: str | None) -> None:
    for template in (params.template, params.approval_template, *extra):
        if template:
            check(template)
            if is_json_template(template):
                check_json_template(template)


def body(params: Params, run: Run, context: dict[str, Any], *, pretty: bool = False) -> tuple[str, bool]:
    """The text to send and whether it is JSON."""
    approval = context.get("approval")
    template = params.template
    if approval:
        template = params.approval_template or (APPROVAL_TEXT if template else None)
        if template is None:
            return json.dumps(approval, indent=2 if pretty else None), True
    if template:
        text = render_template(template, context)
        try:
            json.loads(text)
            return text, True
        except ValueError:
            return text, False
    return json.dumps(run.summary(), indent=2 if pretty else None), True


def rendered_json(template: str | None, context: dict[str, Any], *, what: str) -> dict[str, Any] | None:
    """A template that must render to a JSON object (alertmanager annotations, matchers)."""
    if not template:
        return None
    from ..errors import PermanentError

    text = render_template(template, context)
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise PermanentError(f"{what}: the rendered template is not JSON ({exc})") from None
    if not isinstance(doc, dict):
        raise PermanentError(f"{what}: the rendered template must be a JSON object")
    return doc
