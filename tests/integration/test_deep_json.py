"""Deeply nested JSON at every entry, and runs that cannot be read back.

Before the limits, a webhook field nested 200-254 deep was accepted and made the stored
run unreadable (`cutman runs list` and `runs get` crashed for everyone); 255+ answered
500, which Alertmanager retries forever. Now ingest refuses anything deeper than
jsonlimits.MAX_DEPTH with 400 naming the path; whatever it accepts runs through a
workflow and reads back with the CLI; a run that cannot be parsed (written by an older
version) is skipped by `runs list` with a warning, and `runs get` says why, no traceback.

Real components: ingest served by func-python, the dev broker, redis-server
(ingest_harness), the step hosts with real /bin/dash, and the `cutman` CLI as a process.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cutman.core.jsonlimits import MAX_DEPTH
from cutman.models.run import RunPhase

from tests.integration.ingest_harness import IngestRig, am_payload, source, start_rig
from tests.steps import run_workflow
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[2]


def nested(levels: int) -> Any:
    """A value `levels` containers deep: [[...[{"leaf": 1}]...]]."""
    value: Any = {"leaf": 1}
    for _ in range(levels - 1):
        value = [value]
    return value


def nested_text(levels: int) -> str:
    """The JSON text of `nested(levels)`, built without the recursive encoder."""
    return "[" * (levels - 1) + '{"leaf": 1}' + "]" * (levels - 1)


def with_extra(payload: dict[str, Any], levels: int) -> str:
    text = json.dumps({**payload, "extra": "@@"})
    return text.replace('"@@"', nested_text(levels))


def cutman(redis_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "cutman.cli", *args, "--redis-url", redis_url],
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=False,
                          env={**os.environ, "PYTHONWARNINGS": "error"})


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestRig]:
    r = start_rig(tmp_path_factory.mktemp("deep"))
    r.apply(source("am", "/webhook/am"),
            {"apiVersion": "cutman.dev/v1alpha1", "kind": "Source",
             "metadata": {"name": "api", "namespace": "default"},
             "spec": {"type": "api", "config": {"endpoint": "/api"}}})
    yield r
    r.close()


@pytest.mark.parametrize("levels", [MAX_DEPTH - 1, MAX_DEPTH, 200, 254, 255, 300, 5000, 100_000])
def test_deep_webhook_field_is_400_naming_the_path(rig: IngestRig, levels: int) -> None:
    payload = am_payload({"status": "firing", "labels": {"alertname": f"Deep{levels}"}})
    resp = httpx.post(rig.url + "/webhook/am", content=with_extra(payload, levels), timeout=30,
                      headers={"content-type": "application/json"})
    if levels < MAX_DEPTH:
        assert resp.status_code == 200, resp.text
        return
    assert resp.status_code == 400, resp.text
    doc = resp.json()
    assert doc["error"] == "bad_request"
    assert f"nested deeper than {MAX_DEPTH} levels" in doc["message"]
    assert doc["field"].startswith("extra[0][0]"), doc


@pytest.mark.parametrize("levels", [300, 3000])
@pytest.mark.parametrize("mode", ["plain", "binary", "structured"])
def test_deep_api_source_event_is_400(rig: IngestRig, mode: str, levels: int) -> None:
    data = json.dumps({"payload": "@@"}).replace('"@@"', nested_text(levels))
    if mode == "plain":
        headers, body = {"content-type": "application/json"}, data
    elif mode == "binary":
        headers = {"content-type": "application/json", "ce-specversion": "1.0", "ce-id": "1",
                   "ce-source": "/t", "ce-type": "t"}
        body = data
    else:
        headers = {"content-type": "application/cloudevents+json"}
        body = json.dumps({"specversion": "1.0", "id": "1", "source": "/t", "type": "t",
                           "datacontenttype": "application/json", "data": {"payload": "@@"}})
        body = body.replace('"@@"', nested_text(levels))
    resp = httpx.post(rig.url + "/sources/default/api", content=body, headers=headers, timeout=30)
    assert resp.status_code == 400, resp.text
    assert "nested deeper than" in resp.json()["message"]
    assert "payload" in resp.json()["field"]


def test_deepest_accepted_alert_runs_and_reads_back(rig: IngestRig) -> None:
    """The deepest field ingest accepts flows through a workflow and `cutman runs` reads it."""
    payload = am_payload({"status": "firing", "labels": {"alertname": "DeepOK"}})
    payload["extra"] = nested(MAX_DEPTH - 1)
    before = len(rig.recorder.events)
    resp = httpx.post(rig.url + "/webhook/am", json=payload, timeout=30)
    assert resp.status_code == 200, resp.text
    event = wait_for(lambda: rig.recorder.events[before:], what="the alert event")[0]
    data = json.loads(rig.recorder.bodies[event["ce-id"]])
    spec = {"steps": [{"name": "show", "type": "cli", "command": "printf '%s' {{ .alert.alertname }}"}]}
    run = run_workflow(rig.redis.url, spec, alert=data, event_id="deep-ok")
    assert run.phase is RunPhase.SUCCEEDED, run.error
    listed = cutman(rig.redis.url, "runs", "list", "-o", "json")
    assert listed.returncode == 0 and "Traceback" not in listed.stderr, listed.stderr
    assert run.id in [v["id"] for v in json.loads(listed.stdout)]
    got = cutman(rig.redis.url, "runs", "get", run.id, "-o", "json")
    assert got.returncode == 0, got.stderr
    assert json.loads(got.stdout)["id"] == run.id


def test_unreadable_run_is_skipped_with_a_warning(rig: IngestRig) -> None:
    """A stored run too deep for the parser (as an older version wrote them) never crashes the CLI."""
    spec = {"steps": [{"name": "ok", "type": "cli", "command": "true"}]}
    good = run_workflow(rig.redis.url, spec, event_id="readable")
    doc = json.loads(rig.redis_call(lambda r: r.get(f"cm:run:{{{good.id}}}")))
    bad_id = "bad-run-0001"
    doc.update(id=bad_id, alert={"alertname": "Deep", "extra": nested(230)})

    def plant(r: Any) -> None:
        r.set(f"cm:run:{{{bad_id}}}", json.dumps(doc))
        r.zadd("cm:runs", {bad_id: 9e12})
        r.zadd(f"cm:runs:{good.workflow}", {bad_id: 9e12})

    rig.redis_call(plant)
    for output in ("table", "json"):
        listed = cutman(rig.redis.url, "runs", "list", "-o", output)
        assert listed.returncode == 0, listed.stderr
        assert "Traceback" not in listed.stderr
        assert f"warning: skipped run {bad_id} is stored but cannot be read" in listed.stderr
        assert good.id in listed.stdout and bad_id not in listed.stdout
    got = cutman(rig.redis.url, "runs", "get", bad_id)
    assert got.returncode == 1 and "Traceback" not in got.stderr
    assert got.stderr.startswith(f"error: run {bad_id} is stored but cannot be read"), got.stderr


def test_a_step_printing_deep_json_keeps_the_run_readable(rig: IngestRig) -> None:
    """A step's stdout that is a JSON object too deep to store is output, not the result."""
    deep = '{"a": ' + nested_text(300) + "}"
    spec = {"steps": [{"name": "deep", "type": "cli", "command": f"printf '%s' '{deep}'"},
                      {"name": "ok", "type": "cli", "command": "printf '{\"fine\": [1]}'"}]}
    run = run_workflow(rig.redis.url, spec, event_id="deep-stdout")
    assert run.phase is RunPhase.SUCCEEDED, run.error
    assert run.state("deep").output == deep and not run.state("deep").result
    assert run.state("ok").result == {"fine": [1]}
    got = cutman(rig.redis.url, "runs", "get", run.id, "-o", "json")
    assert got.returncode == 0, got.stderr


@pytest.mark.parametrize("where, levels, accepted", [
    ("alert", MAX_DEPTH - 3, True),  # the document, `alerts` and the alert are the other three
    ("alert", MAX_DEPTH - 2, False),
    ("labels", 80, False),  # not a string: still refused as too deep first, naming the path
])
def test_deep_unknown_field_of_an_alert_is_400_naming_the_path(rig: IngestRig, where: str, levels: int,
                                                              accepted: bool) -> None:
    """ingest walks only a webhook's unknown fields for depth (alertmanager.decode); the
    limit and the path are those of the whole document."""
    alert: dict[str, Any] = {"status": "firing", "labels": {"alertname": f"Deep{where}{levels}"}}
    if where == "alert":
        alert["newField"] = nested(levels)
    else:
        alert["labels"]["x"] = nested(levels)
    resp = httpx.post(rig.url + "/webhook/am", json=am_payload(alert), timeout=30)
    if accepted:
        assert resp.status_code == 200, resp.text
        return
    assert resp.status_code == 400, resp.text
    assert f"nested deeper than {MAX_DEPTH} levels" in resp.json()["message"]
    prefix = "alerts[0].newField[0]" if where == "alert" else "alerts[0].labels.x[0]"
    assert resp.json()["field"].startswith(prefix), resp.json()
