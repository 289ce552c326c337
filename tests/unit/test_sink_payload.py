"""What sinks send for a finished run and for a run awaiting approval: pure, no doubles."""

from __future__ import annotations

import json
from typing import Any

from cutman.core import engine
from cutman.core.context import build_context
from cutman.models.resources import SinkSpec, WorkflowSpec
from cutman.sinks.payload import body

APPROVAL = {"run": "r1", "workflow": "default/wf", "step": "fix", "expiresAt": "2026-11-28T11:00:00Z",
            "approve": "cutman approve r1 fix", "deny": "cutman deny r1 fix",
            "approveUrl": "http://h/approvals/a", "denyUrl": "http://h/approvals/d"}


def run() -> Any:
    spec = WorkflowSpec.model_validate({"steps": [{"name": "fix", "type": "cli", "command": "true"}]})
    return engine.new_run(run_id="r1", workflow="default/wf", spec=spec, event_id="e", event_type="t",
                          source=None, source_context={}, alert={"alertname": "A"}, data=None,
                          now="2026-11-28T10:00:00.000Z")


def sink(config: dict[str, Any]) -> Any:
    return SinkSpec.model_validate({"type": "stdout", "config": config}).params


def test_finished_run_uses_template_or_summary() -> None:
    r = run()
    assert body(sink({"template": "{{ .run.id }} {{ .alert.alertname }}"}), r, build_context(r)) == ("r1 A", False)
    text, is_json = body(sink({}), r, build_context(r))
    assert is_json and json.loads(text)["id"] == "r1"


def test_approval_without_template_is_the_approval_as_json() -> None:
    r = run()
    text, is_json = body(sink({}), r, {**build_context(r), "approval": APPROVAL})
    assert is_json and json.loads(text) == APPROVAL


def test_approval_on_a_text_sink_gets_a_line_with_links() -> None:
    r = run()
    text, _ = body(sink({"template": "done {{ .run.id }}"}), r, {**build_context(r), "approval": APPROVAL})
    assert text == ("[cutman] default/wf run r1 waits for approval of step fix until 2026-11-28T11:00:00Z. "
                    "Approve: http://h/approvals/a Deny: http://h/approvals/d")
    no_links = {k: v for k, v in APPROVAL.items() if not k.endswith("Url")}
    text, _ = body(sink({"template": "x"}), r, {**build_context(r), "approval": no_links})
    assert text.endswith("Approve: cutman approve r1 fix Deny: cutman deny r1 fix")


def test_approval_template_wins() -> None:
    r = run()
    spec = sink({"template": "x", "approvalTemplate": "approve {{ .approval.step }}: {{ .approval.approveUrl }}"})
    assert body(spec, r, {**build_context(r), "approval": APPROVAL}) == ("approve fix: http://h/approvals/a", False)
