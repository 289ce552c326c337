"""Alertmanager, Prometheus and S3 sinks against real peers on loopback.

Real components: the sink function as a subprocess, a real Redis, a real Alertmanager
(Debian `prometheus-alertmanager`, read back through its API v2), a real Pushgateway
(Debian `prometheus-pushgateway`, read back from its /metrics), and moto's S3 server
(`moto[server]`, AWS being a paid remote service) read back with boto3.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import boto3
import httpx
import pytest
from cutman.runtime.redis_server import RedisServer, stop_process

from tests.alertmanager import BINARY as AM_BINARY
from tests.alertmanager import Alertmanager, start_alertmanager
from tests.integration.sink_harness import SinkRig, concurrently, start_sink
from tests.peers import PUSHGATEWAY, Peer, start_moto_s3, start_pushgateway
from tests.waiting import wait_for

LABELS = {"alertname": "HighCPU", "severity": "critical", "pod": "web-1", "namespace": "shop"}


@pytest.fixture(scope="module")
def sink_proc(redis_server: RedisServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[SinkRig]:
    proc, rig = start_sink(redis_server.url, tmp_path_factory.mktemp("sink"))
    yield rig
    stop_process(proc, timeout=10)


@pytest.fixture
def rig(sink_proc: SinkRig, redis_url: str) -> SinkRig:
    return sink_proc


@pytest.fixture(scope="module")
def am(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    if AM_BINARY is None:
        pytest.fail("prometheus-alertmanager is not installed (make deps-test)")
    peer = start_alertmanager(tmp_path_factory.mktemp("am"), webhook_url="http://127.0.0.1:9/unused")
    yield peer
    peer.stop()


def am_alert(am: Alertmanager, labels: dict[str, str]) -> dict[str, Any]:
    """The alert as the run holds it (what ingest recorded from the webhook)."""
    am.fire(labels, {"summary": "CPU is high"})
    [live] = wait_for(lambda: [a for a in httpx.get(f"{am.url}/api/v2/alerts").json() if a["labels"] == labels],
                      what="the fired alert")
    return {"alertname": labels["alertname"], "status": "firing", "labels": labels,
            "annotations": live["annotations"], "startsAt": live["startsAt"], "fingerprint": live["fingerprint"]}


def active(am: Alertmanager, labels: dict[str, str]) -> list[dict[str, Any]]:
    return [a for a in httpx.get(f"{am.url}/api/v2/alerts", params={"active": "true"}).json()
            if a["labels"] == labels and a["status"]["state"] == "active"]


def test_annotate_is_visible_in_the_alert(rig: SinkRig, am: Alertmanager) -> None:
    labels = {**LABELS, "pod": "web-annotate"}
    alert = am_alert(am, labels)
    rig.sink("am", {"type": "alertmanager", "config": {"endpoint": am.url, "action": "annotate", "template": (
        '{"annotations": {"ai_analysis": "{{ .workflow.outputs.summary }}",'
        ' "ai_root_cause": "{{ .workflow.outputs.root_cause }}"}}')}})
    rig.run(alert=alert)
    assert rig.deliver("am").json()["phase"] == "Delivered"
    [live] = active(am, labels)
    assert live["annotations"] == {"summary": "CPU is high", "ai_analysis": "web-1 is CPU bound",
                                   "ai_root_cause": "a busy loop in v2.3"}
    assert live["startsAt"] == alert["startsAt"]


def test_default_annotations_and_redelivery(rig: SinkRig, am: Alertmanager) -> None:
    labels = {**LABELS, "pod": "web-default"}
    rig.sink("am", {"type": "alertmanager", "config": {"endpoint": am.url}})
    rig.run(alert=am_alert(am, labels))
    answers = concurrently(lambda: rig.deliver("am"), n=3)
    assert 200 in {a.status_code for a in answers} and {a.status_code for a in answers} <= {200, 409}
    assert rig.deliver("am").status_code == 200
    [live] = active(am, labels)
    assert live["annotations"]["cutman_summary"] == "web-1 is CPU bound"
    assert live["annotations"]["cutman_run"] == "run-1"
    assert rig.stats("am")["messagesSent"] == "1"


def test_silence_is_listed_and_made_once(rig: SinkRig, am: Alertmanager) -> None:
    labels = {**LABELS, "pod": "web-silence"}
    rig.sink("am", {"type": "alertmanager", "config": {"endpoint": am.url, "action": "silence", "duration": "30m"}})
    rig.run("run-silence", alert=am_alert(am, labels))
    for _ in range(2):
        assert rig.deliver("am", "run-silence").json()["phase"] == "Delivered"
    ours = [s for s in httpx.get(f"{am.url}/api/v2/silences").json() if "run-silence" in s["comment"]]
    assert len(ours) == 1 and ours[0]["status"]["state"] == "active" and ours[0]["createdBy"] == "cutman"
    assert {m["name"]: m["value"] for m in ours[0]["matchers"]} == labels
    wait_for(lambda: [a for a in httpx.get(f"{am.url}/api/v2/alerts").json()
                      if a["labels"] == labels and a["status"]["state"] == "suppressed"], what="the silenced alert")


def test_resolve_ends_the_alerts_the_template_matches(rig: SinkRig, am: Alertmanager) -> None:
    labels = {**LABELS, "pod": "web-resolve", "namespace": "resolve-me"}
    other = {**labels, "namespace": "keep-me"}
    alert = am_alert(am, labels)
    am_alert(am, other)
    rig.sink("am", {"type": "alertmanager", "condition": "{{ .workflow.outputs.auto_resolved }}", "config": {
        "endpoint": am.url, "action": "resolve", "template": (
            '{"matchers": [{"name": "alertname", "value": "{{ .source.data.alert.alertname }}", "isRegex": false},'
            ' {"name": "namespace", "value": "{{ .source.data.alert.labels.namespace }}", "isRegex": false}]}')}})
    rig.run("run-no", alert=alert, outputs={"auto_resolved": "false"})
    assert rig.deliver("am", "run-no").json()["phase"] == "Skipped"
    assert active(am, labels)
    rig.run("run-yes", alert=alert, outputs={"auto_resolved": "true"})
    assert rig.deliver("am", "run-yes").json()["detail"] == "resolved 1 alert(s)"
    wait_for(lambda: not active(am, labels), what="the resolved alert to end")
    assert active(am, other)


@pytest.fixture(scope="module")
def pushgateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Peer]:
    if PUSHGATEWAY is None:
        pytest.fail("prometheus-pushgateway is not installed (make deps-test)")
    peer = start_pushgateway(tmp_path_factory.mktemp("pg"))
    yield peer
    peer.stop()


def test_metrics_are_pushed_under_job_and_grouping_labels(rig: SinkRig, pushgateway: Peer) -> None:
    rig.sink("prom", {"type": "prometheus", "config": {
        "pushgateway": pushgateway.url, "job": "cutman-{{ .workflow.name }}",
        "labels": {"alertname": "{{ .alert.alertname }}", "path": "a/b"},
        "metrics": {"cutman_run_succeeded": '{{ eq .run.phase "Succeeded" }}',
                    "cutman_cpu_percent": "{{ .workflow.outputs.cpu }}"}}})
    rig.run(outputs={"cpu": "93.5"})
    answers = concurrently(lambda: rig.deliver("prom"), n=3)
    assert 200 in {a.status_code for a in answers}
    text = httpx.get(f"{pushgateway.url}/metrics").text
    line = [ln for ln in text.splitlines() if ln.startswith("cutman_cpu_percent{")]
    assert line == ['cutman_cpu_percent{alertname="HighCPU",instance="",job="cutman-wf",path="a/b"} 93.5']
    assert 'cutman_run_succeeded{alertname="HighCPU",instance="",job="cutman-wf",path="a/b"} 1' in text


def test_a_value_that_is_not_a_number_fails_naming_the_metric(rig: SinkRig, pushgateway: Peer) -> None:
    rig.sink("prom", {"type": "prometheus", "config": {"pushgateway": pushgateway.url,
                                                       "metrics": {"cutman_x": "{{ .workflow.outputs.summary }}"}}})
    rig.run()
    record = rig.deliver("prom").json()
    assert record["phase"] == "Failed" and record["detail"].startswith("config.metrics.cutman_x: rendered")


@pytest.fixture(scope="module")
def s3(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Any]:
    peer = start_moto_s3(tmp_path_factory.mktemp("moto"))
    client = boto3.client("s3", endpoint_url=peer.url, region_name="us-east-1",
                          aws_access_key_id="AKIDTEST", aws_secret_access_key="test-secret-key")
    client.create_bucket(Bucket="reports")
    yield peer, client
    peer.stop()


def test_s3_report_json_and_markdown_never_clobbered(rig: SinkRig, s3: Any) -> None:
    peer, client = s3
    rig.secret("s3-creds", {"accessKeyId": "AKIDTEST", "secretAccessKey": "test-secret-key"})
    rig.sink("s3", {"type": "s3", "config": {"bucket": "reports", "prefix": "cutman/", "endpoint": peer.url,
                                             "credentialsSecret": "s3-creds"}})
    rig.run()
    assert rig.deliver("s3").json()["phase"] == "Delivered"
    key = "cutman/ops/wf/run-1"
    doc = json.loads(client.get_object(Bucket="reports", Key=f"{key}.json")["Body"].read())
    assert doc["id"] == "run-1" and doc["outputs"]["root_cause"] == "a busy loop in v2.3"
    md = client.get_object(Bucket="reports", Key=f"{key}.md")["Body"].read().decode()
    assert md.startswith("# HighCPU: Succeeded") and "a busy loop in v2.3" in md
    client.put_object(Bucket="reports", Key=f"{key}.json", Body=b'{"edited": true}')
    rig.records()  # a redelivery after the record was lost: the conditional put keeps what is there
    rig._store(lambda s: s.record_sink("run-1", "s3", {"phase": "Sending", "attempts": 1}))
    answers = concurrently(lambda: rig.deliver("s3"), n=3)
    assert 200 in {a.status_code for a in answers}
    assert rig.records()["s3"]["phase"] == "Delivered" and "kept" in rig.records()["s3"]["detail"]
    assert json.loads(client.get_object(Bucket="reports", Key=f"{key}.json")["Body"].read()) == {"edited": True}
    assert "test-secret-key" not in json.dumps(rig.records()) + rig.log.read_text()
