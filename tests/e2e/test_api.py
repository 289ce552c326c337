"""The HTTP API over real HTTP: `cutman dev` with an API token, every endpoint, paging,
filters, auth refused and accepted, approve/deny, the SSE stream, and no secret value in
any answer.

Real components: `cutman dev` (Redis, dev broker, the five functions), a refusing
webhook receiver (tests/e2e/api_env.py). Test double: the scripted OpenAI-compatible
server for the agent step.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from cutman.models.cloudevent import make_event, to_binary
from cutman.models.events import EventType, Ext
from prometheus_client.parser import text_string_to_metric_families

from tests.e2e.api_env import API_TOKEN, SECRETS, ApiEnv, api_env

ANSWERS: list[str] = []


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApiEnv]:
    with api_env(tmp_path_factory.mktemp("api")) as e:
        yield e


def get(env: ApiEnv, path: str, code: int = 200, **params: Any) -> Any:
    resp = env.get(path, **params)
    ANSWERS.append(resp.text)
    assert resp.status_code == code, (path, resp.status_code, resp.text)
    return resp.json()


def post(env: ApiEnv, path: str, body: Any = None, *, headers: dict[str, str] | None = None) -> httpx.Response:
    resp = httpx.post(env.base + path, json=body, headers=headers if headers is not None else env.headers(),
                      timeout=30)
    ANSWERS.append(resp.text)
    return resp


def wait_runs(env: ApiEnv, n: int, **filters: Any) -> list[dict[str, Any]]:
    def probe() -> list[dict[str, Any]] | None:
        items: list[dict[str, Any]] = get(env, "/api/v1/runs", limit=100, **filters)["items"]
        return items if len(items) >= n else None

    found: list[dict[str, Any]] = env.stack.wait_for(probe, what=f"{n} runs matching {filters}")
    return found


def test_auth_refused_and_accepted(env: ApiEnv) -> None:
    for headers in ({}, {"authorization": "Bearer wrong"}, {"authorization": f"Basic {API_TOKEN}"},
                    {"cookie": "cutman_api=forged"}):
        resp = httpx.get(env.base + "/api/v1/runs", headers=headers, timeout=10)
        assert resp.status_code == 401, headers
        assert resp.json()["error"] == "unauthorized" and API_TOKEN not in resp.text
    refused = httpx.post(env.base + "/api/v1/runs/x/steps/y/approve", json={}, timeout=10)
    assert refused.status_code == 401, "approve needs the token too"
    assert get(env, "/api/v1")["version"] == "v1"
    page = httpx.get(env.base + "/ui", timeout=10)
    assert page.status_code == 401 and "Log in" in page.text
    login = httpx.post(env.base + "/ui/login", data={"token": "nope"}, timeout=10)
    assert login.status_code == 401
    ok = httpx.post(env.base + "/ui/login", data={"token": API_TOKEN}, timeout=10)
    assert ok.status_code == 303 and API_TOKEN not in ok.headers["set-cookie"]
    cookie = ok.headers["set-cookie"].split(";")[0]
    assert "HttpOnly" in ok.headers["set-cookie"] and "SameSite=Strict" in ok.headers["set-cookie"]
    assert httpx.get(env.base + "/api/v1/runs", headers={"cookie": cookie}, timeout=10).status_code == 200
    csrf = httpx.post(env.base + "/api/v1/runs/x/steps/y/approve", json={}, headers={"cookie": cookie}, timeout=10)
    assert csrf.status_code == 401 and "x-cutman-request" in csrf.text


def test_resources_with_status_and_conditions(env: ApiEnv) -> None:
    workflows = get(env, "/api/v1/workflows")
    assert workflows["kind"] == "WorkflowList"
    names = {(w["namespace"], w["name"]): w for w in workflows["items"]}
    assert set(names) >= {("default", "investigate"), ("default", "quick"), ("team", "broken")}
    assert names[("default", "quick")]["ready"] is True
    broken = names[("team", "broken")]
    assert broken["ready"] is False and broken["reason"] == "SinkNotFound" and "missing" in broken["message"]
    assert get(env, "/api/v1/workflows", namespace="team")["items"] == [broken]
    sources = get(env, "/api/v1/sources")["items"]
    inv = next(s for s in sources if s["name"] == "inv")
    assert inv["spec"]["config"]["authentication"] == {"type": "bearer", "secretRef": "am-token/token"}
    assert "ingest" not in inv["spec"] and inv["type"] == "webhook"
    sinks = get(env, "/api/v1/sinks", namespace="team")["items"]
    assert [s["name"] for s in sinks] == ["chat"]
    assert sinks[0]["spec"]["config"]["endpoint"] == "http://***@127.0.0.1:9/hook"
    one = get(env, "/api/v1/workflows/default/quick")
    assert one["name"] == "quick" and "recentRuns" in one and "stats" in one
    assert get(env, "/api/v1/sinks/default/console")["type"] == "stdout"
    missing = get(env, "/api/v1/sources/default/nope", 404)
    assert missing["error"] == "not_found" and "default/nope" in missing["message"]
    assert get(env, "/api/v1/sources", 400, labelSelector="bad")["field"] == "labelSelector"
    assert get(env, "/api/v1/pods", 404)["error"] == "not_found"
    wrong = post(env, "/api/v1/runs")
    assert (wrong.status_code, wrong.headers["allow"]) == (405, "GET, HEAD"), wrong.text
    assert wrong.json() == {"error": "method_not_allowed", "message": "/api/v1/runs takes GET"}


def test_runs_paging_filters_and_one_run(env: ApiEnv) -> None:
    for i in range(5):
        assert env.fire("quick", f"q-{i}").status_code == 200
    done = wait_runs(env, 5, workflow="default/quick", phase="Succeeded")
    seen: list[str] = []
    cont = None
    while True:
        params: dict[str, Any] = {"workflow": "default/quick", "limit": 2}
        if cont:
            params["continue"] = cont
        page = get(env, "/api/v1/runs", **params)
        assert len(page["items"]) <= 2
        seen += [r["id"] for r in page["items"]]
        cont = page["continue"]
        if not cont:
            break
    assert sorted(seen) == sorted(r["id"] for r in done) and len(seen) == len(set(seen))
    fp = done[0]["alert"]["fingerprint"]
    assert [r["id"] for r in get(env, "/api/v1/runs", fingerprint=fp)["items"]] == [done[0]["id"]]
    assert get(env, "/api/v1/runs", namespace="team")["items"] == []
    assert get(env, "/api/v1/runs", phase="failed", workflow="quick", namespace="default")["items"] == []
    assert get(env, "/api/v1/runs", 400, phase="Boom")["field"] == "phase"
    assert get(env, "/api/v1/runs", 400, limit="0")["field"] == "limit"
    assert get(env, "/api/v1/runs", 400, **{"continue": "zzz"})["field"] == "continue"
    # Succeeded is saved before run.finished reaches the sink: its record may follow a moment later
    run = env.stack.wait_for(lambda: (one := get(env, f"/api/v1/runs/{done[0]['id']}"))["sinks"] and one,
                             what="the console sink's record on the run")
    assert run["steps"][0]["output"].startswith("ok q-") and run["sinks"]["console"]["phase"] == "Delivered"
    assert run["eventType"] == "dev.cutman.alert.firing" and run["alert"]["labels"]["pod"].startswith("q-")
    assert get(env, "/api/v1/runs/no-such-run", 404)["error"] == "not_found"

    alerts = get(env, "/api/v1/alerts", status="firing", source="default/quick")["items"]
    assert {a["alertname"] for a in alerts} == {"PodRestarting"} and len(alerts) >= 5
    assert all(a["since"] and a["count"] >= 1 for a in alerts)
    assert env.fire("quick", "q-0", status="resolved").status_code == 200
    resolved = get(env, "/api/v1/alerts", status="resolved")["items"]
    assert [a["fingerprint"] for a in resolved] == [done_fp(done, "q-0")] and resolved[0]["resolvedAt"]
    assert get(env, "/api/v1/alerts", 400, status="maybe")["field"] == "status"
    events = get(env, "/api/v1/sources/default/quick/events", limit=3)
    assert len(events["items"]) == 3 and events["continue"]
    assert events["items"][0]["type"] == "alert.resolved"
    more = get(env, "/api/v1/sources/default/quick/events", limit=50, **{"continue": events["continue"]})
    runs_started = {e["run"] for e in events["items"] + more["items"] if e["run"]}
    assert runs_started == {r["id"] for r in done}
    assert get(env, "/api/v1/events", namespace="default", limit=100)["kind"] == "SourceEventList"


def done_fp(runs: list[dict[str, Any]], pod: str) -> str:
    return next(r["alert"]["fingerprint"] for r in runs if r["alert"]["labels"]["pod"] == pod)


class SSE:
    """Reads /api/v1/stream in a thread, keeping every event."""

    def __init__(self, url: str, headers: dict[str, str]) -> None:
        self.events: list[dict[str, Any]] = []
        self.ids: list[str] = []
        self.open = threading.Event()
        self.stop = False
        self.ended: Exception | None = None
        self.thread = threading.Thread(target=self._read, args=(url, headers), daemon=True)
        self.thread.start()
        assert self.open.wait(20), "the stream did not open"

    def _read(self, url: str, headers: dict[str, str]) -> None:
        try:
            self._follow(url, headers)
        except httpx.TransportError as exc:
            self.ended = exc  # the stack stopping ends the stream; tests read what came before

    def _follow(self, url: str, headers: dict[str, str]) -> None:
        with httpx.stream("GET", url, headers=headers, timeout=httpx.Timeout(10, read=60)) as resp:
            assert resp.headers["content-type"].startswith("text/event-stream")
            self.open.set()
            for line in resp.iter_lines():
                if self.stop:
                    return
                if line.startswith("id: "):
                    self.ids.append(line[4:])
                if line.startswith("data: "):
                    self.events.append(json.loads(line[6:]))


def test_agent_run_approve_deny_and_the_stream(env: ApiEnv) -> None:
    sse = SSE(env.base + "/api/v1/stream?workflow=default/investigate", env.headers())
    for pod in ("web-1", "web-2"):
        assert env.fire("inv", pod).status_code == 200
    waiting = wait_runs(env, 2, workflow="default/investigate", phase="AwaitingApproval")
    by_pod = {r["alert"]["labels"]["pod"]: r["id"] for r in waiting}
    run = get(env, f"/api/v1/runs/{by_pod['web-1']}")
    assert run["awaitingApproval"] == ["remediate"]
    steps = {s["name"]: s for s in run["steps"]}
    assert steps["analyze"]["result"]["root_cause"].startswith("memory limit")
    assert [c["name"] for c in steps["analyze"]["toolCalls"]] == ["pod_info"]
    assert steps["analyze"]["usage"]["total_tokens"] == 410 and run["tokens"] == 410
    assert "***" in steps["gather"]["output"], "the step echoed its secret; the run keeps it masked"
    assert steps["remediate"]["approval"]["decision"] is None

    assert post(env, f"/api/v1/runs/{by_pod['web-1']}/steps/remediate/approve", {"by": "ana"}).json() == {
        "run": by_pod["web-1"], "step": "remediate", "decision": "approved", "by": "ana", "resumed": True}
    denied = post(env, f"/api/v1/runs/{by_pod['web-2']}/steps/remediate/deny")
    assert denied.status_code == 200 and denied.json()["by"] == "api"
    again = post(env, f"/api/v1/runs/{by_pod['web-1']}/steps/remediate/approve")
    assert again.status_code == 422 and "already approved by ana" in again.json()["message"]
    assert post(env, "/api/v1/runs/nope/steps/remediate/approve").status_code == 404
    assert post(env, f"/api/v1/runs/{by_pod['web-1']}/steps/remediate/approve", {"by": 5}).status_code == 400

    wait_runs(env, 1, workflow="default/investigate", phase="Succeeded")
    wait_runs(env, 1, workflow="default/investigate", phase="Failed")
    phases = {r["id"]: r["phase"] for r in get(env, "/api/v1/runs", workflow="default/investigate")["items"]}
    assert phases == {by_pod["web-1"]: "Succeeded", by_pod["web-2"]: "Failed"}
    approved = get(env, f"/api/v1/runs/{by_pod['web-1']}")
    assert approved["steps"][2]["approval"]["decidedBy"] == "ana"
    assert approved["steps"][2]["output"] == "patched web-1\n"

    def streamed() -> bool:
        mine = [e for e in sse.events if e["run"] == by_pod["web-1"]]
        return any(e["phase"] == "Succeeded" for e in mine) and any(e["what"] == "created" for e in mine)

    env.stack.wait_for(streamed, what="the stream to carry web-1's run from created to Succeeded")
    assert {e["workflow"] for e in sse.events if e.get("workflow")} == {"default/investigate"}
    summary = next(e["summary"] for e in sse.events if e["run"] == by_pod["web-1"] and e["phase"] == "Succeeded")
    assert summary["phase"] == "Succeeded" and summary["stepsDone"] == 3
    sse.stop = True

    resumed = httpx.Client(timeout=httpx.Timeout(10, read=20))
    with resumed.stream("GET", env.base + f"/api/v1/stream?run={by_pod['web-2']}",
                        headers={**env.headers(), "last-event-id": sse.ids[0]}) as resp:
        lines = []
        for line in resp.iter_lines():
            if line.startswith("data: "):
                lines.append(json.loads(line[6:]))
                if lines[-1]["phase"] == "Failed":
                    break
        assert lines and {e["run"] for e in lines} == {by_pod["web-2"]}, "resumed from Last-Event-ID"
    resumed.close()
    assert get(env, "/api/v1/stream", 400, lastEventId="garbage")["field"] == "continue"

    assert approved["sinks"]["refuser"]["phase"] == "Failed", "a 400 from the receiver fails the delivery"
    assert env.refuser.hits >= 1


def test_dead_letters(env: ApiEnv) -> None:
    """A step.requested without its `run` extension is refused 400 by step-cli: not retryable,
    so the dev broker hands it to the Trigger's dead-letter sink (ingest) at once, and the
    API lists it; a dead letter of a run is also on the run."""
    broker = json.loads((env.stack.state / "dev.json").read_text())["broker_url"]
    event = make_event(type=EventType.STEP_REQUESTED, source="/test", data={},
                       extensions={Ext.WORKFLOW: "default/quick", Ext.STEP: "check", Ext.STEPTYPE: "cli"})
    msg = to_binary(event)
    assert httpx.post(broker, headers=msg.headers, content=msg.body, timeout=10).status_code == 202
    dead = env.stack.wait_for(lambda: [d for d in get(env, "/api/v1/deadletters")["items"]
                                       if d["event"] == event.get_id()], what="the dead letter")
    assert dead[0]["code"] == "400" and dead[0]["type"] == "dev.cutman.step.requested"
    assert dead[0]["step"] == "check" and dead[0]["run"] is None and "run" in dead[0]["detail"]
    assert get(env, "/api/v1/deadletters", limit=1)["items"][0]["id"] == dead[0]["id"]
    run = get(env, "/api/v1/runs", limit=1)["items"][0]
    assert get(env, f"/api/v1/runs/{run['id']}")["deadLetters"] == []


def test_no_secret_value_in_any_answer(env: ApiEnv) -> None:
    """Every answer this module received, plus each list and page once more, grepped."""
    for path in ("/api/v1/sources", "/api/v1/workflows", "/api/v1/sinks", "/api/v1/runs", "/api/v1/alerts",
                 "/api/v1/events", "/api/v1/deadletters", "/api/v1/sinks/team/chat",
                 "/api/v1/workflows/default/investigate"):
        get(env, path)
    for run in get(env, "/api/v1/runs", limit=100)["items"]:
        get(env, f"/api/v1/runs/{run['id']}")
    ok = httpx.post(env.base + "/ui/login", data={"token": API_TOKEN}, timeout=10)
    cookie = {"cookie": ok.headers["set-cookie"].split(";")[0]}
    for page in ("/ui", "/ui/alerts", "/ui/resources", "/ui/fragments/runs"):
        resp = httpx.get(env.base + page, headers=cookie, timeout=10)
        assert resp.status_code == 200, page
        ANSWERS.append(resp.text)
    assert len(ANSWERS) > 40
    for value in [*SECRETS.values(), API_TOKEN]:
        leaks = [a[:200] for a in ANSWERS if value in a]
        assert not leaks, f"secret {value[:6]}... leaked in {leaks}"
    assert any("***" in a for a in ANSWERS)


def test_api_open_on_loopback_without_token(tmp_path: Path) -> None:
    with api_env(tmp_path, token=None) as env:
        resp = httpx.get(env.base + "/api/v1/workflows", timeout=10)
        assert resp.status_code == 200 and resp.json()["items"]
        page = httpx.get(env.base + "/ui/resources", timeout=10)
        assert page.status_code == 200 and "investigate" in page.text


def _samples(url: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = httpx.get(url, timeout=10).text
    return {(s.name, tuple(sorted(s.labels.items()))): s.value
            for fam in text_string_to_metric_families(text) for s in fam.samples}


def test_metrics_on_every_function(env: ApiEnv) -> None:
    """After the runs above: each function's metrics port (and ingest's /metrics) says what it did,
    parsed with prometheus_client's own text parser."""
    ports = json.loads((env.stack.state / "dev.json").read_text())["metrics"]
    assert set(ports) == {"broker", "ingest", "step-cli", "step-agent", "sink", "reconciler"}
    cli, agent = _samples(ports["step-cli"]), _samples(ports["step-agent"])
    started = sum(v for (n, labels), v in cli.items() if n == "cutman_runs_started_total")
    assert started >= 7, "the five quick runs and two investigations started in step-cli"
    assert cli[("cutman_step_duration_seconds_count", (("phase", "Succeeded"), ("type", "cli")))] >= 7
    assert agent[("cutman_step_duration_seconds_count", (("phase", "Succeeded"), ("type", "agent")))] == 2
    assert agent[("cutman_agent_tokens_total", (("kind", "prompt"), ("workflow", "default/investigate")))] == 640
    assert agent[("cutman_agent_tokens_total", (("kind", "completion"), ("workflow", "default/investigate")))] == 180
    assert agent[("cutman_agent_tool_calls_total", (("outcome", "ok"), ("tool", "pod_info")))] == 2
    sink = _samples(ports["sink"])
    assert sink[("cutman_sink_deliveries_total", (("phase", "Delivered"), ("type", "stdout")))] >= 7
    assert sink[("cutman_sink_deliveries_total", (("phase", "Failed"), ("type", "webhook")))] >= 2
    assert sink[("cutman_sink_failures_total", (("type", "webhook"),))] >= 2
    rec = _samples(ports["reconciler"])
    assert rec[("cutman_runs_finished_total", (("phase", "Succeeded"), ("workflow", "default/quick")))] == 5
    assert rec[("cutman_runs_finished_total", (("phase", "Failed"), ("workflow", "default/investigate")))] == 1
    assert rec[("cutman_reconciles_total", (("kind", "Workflow"), ("result", "ok")))] >= 3
    broker = _samples(ports["broker"])
    assert broker[("cutman_dead_letters_total", (("type", "dev.cutman.step.requested"),))] == 1
    ingest = _samples(env.base + "/metrics")
    assert ingest[("cutman_ingest_alerts_total", (("decision", "firing"), ("source", "default/quick")))] == 5
    assert ("cutman_ingest_alerts_total", (("decision", "firing"), ("source", "default/quick"))) in _samples(
        ports["ingest"]), "ingest's metrics port serves the same registry"


def test_every_log_line_is_json_and_the_pinger_starts_quietly(env: ApiEnv) -> None:
    """After everything above: each component's log (func-python's and hypercorn's own start-up
    lines included) is JSON lines, and the pinger logged no traceback and no failed sweep."""
    logs = sorted((env.stack.state / "logs").glob("*.log"))
    assert {p.stem for p in logs} >= {"broker", "ingest", "step-cli", "step-agent", "sink", "reconciler", "pinger"}
    for path in logs:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
        assert lines, path.name
        for line in lines:
            try:
                doc = json.loads(line)
            except ValueError:
                raise AssertionError(f"{path.name}: not JSON: {line[:200]}") from None
            assert {"ts", "level", "logger", "msg", "component"} <= set(doc), (path.name, doc)
        if path.stem != "pinger":
            assert any("Running on" in ln for ln in lines) or path.stem == "broker", path.name
    pinger = [json.loads(ln) for ln in (env.stack.state / "logs" / "pinger.log").read_text().splitlines() if ln]
    assert not [d for d in pinger if d["level"] in ("warning", "error", "critical") or "exc" in d], pinger
