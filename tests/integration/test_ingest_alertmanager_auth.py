"""Bearer authentication and repeats through a real Alertmanager and `cutman dev`.

Real components only: Debian's prometheus-alertmanager posting with
`http_config.authorization` (Bearer) to `cutman dev` (own Redis, dev broker, the five
functions), a local v1 Secret applied with the same manifests a cluster would take.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.alertmanager import Alertmanager, start_alertmanager
from tests.stack import REPO, Stack, start_stack, stop_stack

SOURCE = """
apiVersion: v1
kind: Secret
metadata: {name: am-webhook, namespace: default}
stringData: {token: right-token-42}
---
apiVersion: cutman.dev/v1alpha1
kind: Source
metadata: {name: alertmanager, namespace: default}
spec:
  type: webhook
  config:
    path: /webhook/alerts
    matchers: ['severity=~"critical|warning"']
    authentication: {type: bearer, secretRef: am-webhook}
  triggerWorkflow: triage
  context: {team: platform}
"""


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    manifests = tmp_path / "manifests"
    manifests.mkdir()
    (manifests / "source.yaml").write_text(SOURCE)
    for name in ("workflow.yaml", "sink.yaml"):
        (manifests / name).write_text((REPO / "deploy/examples" / name).read_text())
    s = start_stack(tmp_path, str(manifests))
    yield s
    stop_stack(s)


def _unauthorized(stack: Stack) -> float:
    text = httpx.get(f"{stack.base}/metrics", timeout=10).text
    m = re.search(r'^cutman_ingest_rejections_total\{reason="unauthorized"\} (\S+)$', text, re.MULTILINE)
    return float(m.group(1)) if m else 0.0


def test_right_token_runs_wrong_token_is_refused(stack: Stack, tmp_path: Path) -> None:
    url = f"{stack.base}/webhook/alerts"
    good: Alertmanager = start_alertmanager(tmp_path / "am-good", webhook_url=url, bearer="right-token-42")
    bad: Alertmanager = start_alertmanager(tmp_path / "am-bad", webhook_url=url, bearer="wrong-token")
    try:
        bad.fire({"alertname": "DiskFull", "pod": "db-1", "severity": "critical"})
        stack.wait_for(lambda: _unauthorized(stack) >= 1, what="ingest to refuse the wrong token")
        good.fire({"alertname": "HighCPUUsage", "pod": "web-7", "severity": "critical"})
        good.fire({"alertname": "Chatty", "pod": "web-7", "severity": "info"})
        runs = stack.wait_for(lambda: [r for r in stack.json("runs", "list") if r["phase"] == "Succeeded"],
                              what="a run from the authenticated Alertmanager")
        assert stack.json("runs", "get", runs[0]["id"])["outputs"]["pod"] == "web-7"
        good.fire({"alertname": "HighCPUUsage", "pod": "web-7", "severity": "critical"})
        good.resolve({"alertname": "HighCPUUsage", "pod": "web-7", "severity": "critical"})
        stack.wait_for(lambda: [a for a in stack.json("alerts", "list") if a["status"] == "resolved"],
                       what="the resolve")
    finally:
        good.stop()
        bad.stop()
    alerts = stack.json("alerts", "list")
    assert [a["alertname"] for a in alerts] == ["HighCPUUsage"], "no state for the refused or unmatched alert"
    assert len(stack.json("runs", "list")) == 1
    assert "right-token-42" not in "".join(stack.lines)
    logs = "".join(p.read_text() for p in (stack.state / "logs").glob("*.log"))
    assert "right-token-42" not in logs and "wrong-token" not in logs
    assert "wrong bearer token" in logs
