"""Two namespaces at once in `cutman dev`, each with a Source, Workflow and Sink of the
same names: alerts to each start runs of their own namespace only, and a webhook path
claimed twice is reported on the second Source and handed over when the first goes.

Real components, no doubles: `cutman dev` (its Redis, dev broker in `cutman/default`, the
five functions) and the `cutman` command, as a user types it.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.stack import Stack, start_stack, stop_stack

NAMESPACES = ("ops", "web")


def trio(ns: str) -> list[dict[str, Any]]:
    return [
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Sink", "metadata": {"name": "console", "namespace": ns},
         "spec": {"type": "stdout", "config": {
             "template": "[ns-e2e] {{ .workflow.namespace }}/{{ .workflow.name }} said {{ .workflow.outputs.said }}"}}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "triage", "namespace": ns},
         "spec": {"steps": [{"name": "gather-context", "type": "cli",
                             "command": "echo {{ .source.namespace }}-{{ .source.data.alertname }}"}],
                  "outputs": [{"name": "said", "value": "{{ .steps.gather-context.output | trim }}"}],
                  "sinks": ["console"]}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Source", "metadata": {"name": "am", "namespace": ns},
         "spec": {"type": "webhook", "config": {"path": f"/webhook/{ns}"}, "triggerWorkflow": "triage"}},
    ]


def write(path: Path, docs: list[dict[str, Any]]) -> Path:
    path.write_text("\n---\n".join(json.dumps(d) for d in docs))
    return path


def alert(name: str) -> dict[str, Any]:
    labels = {"alertname": name, "severity": "critical"}
    return {"receiver": "cutman", "status": "firing", "version": "4", "groupKey": "{}", "truncatedAlerts": 0,
            "groupLabels": {}, "commonLabels": labels, "commonAnnotations": {}, "externalURL": "http://am",
            "alerts": [{"status": "firing", "labels": labels, "annotations": {},
                        "startsAt": "2026-11-28T16:41:04Z", "endsAt": "0001-01-01T00:00:00Z",
                        "generatorURL": "", "fingerprint": f"fp{name}"}]}


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    tmp = tmp_path_factory.mktemp("namespaces")
    folder = tmp / "manifests"
    folder.mkdir()
    dup = trio("web")[2]
    dup = {**dup, "metadata": {"name": "dup", "namespace": "web"}}
    write(folder / "all.yaml", [d for ns in NAMESPACES for d in trio(ns)] + [dup])
    s = start_stack(tmp, str(folder))
    try:
        yield s
    finally:
        stop_stack(s)


def runs(stack: Stack, workflow: str) -> list[dict[str, Any]]:
    return list(stack.json("runs", "list", "--workflow", workflow))


def finished(stack: Stack, workflow: str, count: int) -> list[dict[str, Any]]:
    done = [r for r in runs(stack, workflow) if r["phase"] in ("Succeeded", "Failed")]
    return done if len(done) >= count else []


def resource(stack: Stack, kind: str, ns: str, name: str) -> dict[str, Any]:
    resp = httpx.get(f"{stack.base}/api/v1/{kind}/{ns}/{name}", timeout=10)
    assert resp.status_code == 200, resp.text
    body: dict[str, Any] = resp.json()
    return body


def ready(stack: Stack, kind: str, ns: str, name: str) -> dict[str, Any]:
    status = resource(stack, kind, ns, name).get("status") or {}
    return next((c for c in status.get("conditions", []) if c["type"] == "Ready"), {})


def test_alerts_start_runs_of_their_own_namespace_only(stack: Stack) -> None:
    for ns in NAMESPACES:
        assert stack.post(f"/webhook/{ns}", alert(f"Alert{ns.title()}")).status_code == 200
    for ns in NAMESPACES:
        done = stack.wait_for(lambda ns=ns: finished(stack, f"{ns}/triage", 1), what=f"the run in {ns}")
        assert len(done) == 1 and done[0]["phase"] == "Succeeded", done
        run = stack.json("runs", "get", done[0]["id"])
        assert run["workflow"] == f"{ns}/triage" and run["source"] == f"{ns}/am"
        assert run["outputs"] == {"said": f"{ns}-Alert{ns.title()}"}
        line = f"[ns-e2e] {ns}/triage said {ns}-Alert{ns.title()}\n"
        stack.wait_for(lambda line=line: line in stack.lines, what=f"the {ns} console sink's line")
    ids = {r["id"] for ns in NAMESPACES for r in runs(stack, f"{ns}/triage")}
    assert len(ids) == 2
    for ns in NAMESPACES:
        assert ready(stack, "sources", ns, "am")["status"] == "True"
        assert ready(stack, "workflows", ns, "triage")["status"] == "True"
    assert not [ln for ln in stack.lines if "[ns-e2e] ops/triage said web" in ln or "web/triage said ops" in ln]


def test_a_path_conflict_is_reported_and_resolves_when_the_first_source_goes(stack: Stack, tmp_path: Path) -> None:
    late = trio("web")[2]
    late = {**late, "metadata": {"name": "late", "namespace": "web"},
            "spec": {**late["spec"], "config": {"path": "/webhook/ops"}}}
    applied = stack.cli("apply", "-f", str(write(tmp_path / "late.yaml", [late])))
    assert "source.cutman.dev/late created" in applied.stdout
    assert "not Ready: PathConflict: path /webhook/ops is already served by Source ops/am" in applied.stdout
    cond = ready(stack, "sources", "web", "late")
    assert (cond["status"], cond["reason"]) == ("False", "PathConflict")
    assert "ops/am" in cond["message"]

    assert stack.post("/webhook/ops", alert("StillOps")).status_code == 200
    stack.wait_for(lambda: "[ns-e2e] ops/triage said ops-StillOps\n" in stack.lines, what="ops still serving")

    gone = stack.cli("delete", "-f", str(write(tmp_path / "first.yaml", [trio("ops")[2]])))
    assert 'source.cutman.dev "am" deleted' in gone.stdout
    stack.wait_for(lambda: ready(stack, "sources", "web", "late").get("status") == "True",
                   what="web/late to turn Ready")
    assert stack.post("/webhook/ops", alert("NowWeb")).status_code == 200
    stack.wait_for(lambda: "[ns-e2e] web/triage said web-NowWeb\n" in stack.lines, what="web serving /webhook/ops")
    assert not [r for r in runs(stack, "ops/triage") if "NowWeb" in json.dumps(stack.json("runs", "get", r["id"]))]


def test_cutman_dev_says_at_start_which_applied_crs_are_not_ready(stack: Stack) -> None:
    line = next((ln for ln in stack.lines if ln.startswith("Source web/dup not Ready: ")), None)
    assert line == ("Source web/dup not Ready: PathConflict: path /webhook/web is already served by Source "
                    "web/am; this Source serves it once that one is deleted or moves\n"), stack.lines
    assert not [ln for ln in stack.lines if " not Ready: " in ln and "web/dup" not in ln]
