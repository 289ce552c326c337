"""Ingest served for real (func-python, own Redis, real dev broker): what reaches the broker.

No doubles: the events counted are the ones the dev broker accepted and delivered to a
recording HTTP subscriber (see ingest_harness). Sources go through the reconciler's code.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
from cutman.core.auth import sign
from prometheus_client.parser import text_string_to_metric_families

from tests.integration.ingest_harness import IngestRig, alert, am_payload, secret, source, start_rig
from tests.waiting import wait_for

FIRING, RESOLVED = "dev.cutman.alert.firing", "dev.cutman.alert.resolved"


@pytest.fixture(scope="module")
def rig(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IngestRig]:
    r = start_rig(tmp_path_factory.mktemp("ingest"), CUTMAN_BODY_LIMIT="65536")
    yield r
    r.close()


def post(rig: IngestRig, path: str, doc: object, **headers: str) -> httpx.Response:
    return httpx.post(rig.url + path, content=json.dumps(doc), timeout=30,
                      headers={"content-type": "application/json", **headers})


def test_filters_and_matchers_both_apply_and_group_fields_are_kept(rig: IngestRig) -> None:
    rig.apply(source("match", "/webhook/match", filters={"team": ["db", "web"]},
                     matchers=['severity=~"critical|warning"', 'env!="dev"']))
    payload = am_payload(
        alert(severity="critical", team="db", pod="a"),
        alert(severity="critical", team="db", pod="b", env="dev"),
        alert(severity="crit", team="db", pod="c"),
        alert(severity="warning", team="ops", pod="d"),
        alert(severity="warning", team="web", pod="e"),
        truncatedAlerts=3, notification_reason="repeat", routeLabels={"team": "db"},
    )
    resp = post(rig, "/webhook/match", payload)
    assert resp.status_code == 200, resp.text
    assert resp.json()["firing"] == 2 and resp.json()["filtered"] == 3
    got = wait_for(lambda: len(evs := [e for e in rig.recorder.of_type(FIRING)
                                       if e.get("ce-cmsource") == "default/match"]) == 2 and evs, what="2 events")
    assert {e["ce-severity"] for e in got} == {"critical", "warning"}


def test_group_fields_and_am_fingerprint_reach_the_event_data(rig: IngestRig) -> None:
    from cutman.runtime.loader import load

    am = load("ingest").alertmanager
    payload = am.decode(json.dumps(am_payload(alert(pod="z"), truncatedAlerts=7,
                                               notification_reason="group_changed",
                                               routeLabels={"team": "db"})).encode())
    group = am.group_of(payload)
    assert group["truncatedAlerts"] == 7 and group["groupKey"] and group["externalURL"]
    assert group["notification_reason"] == "group_changed" and group["routeLabels"] == {"team": "db"}
    assert "alerts" not in group
    minimal = am.decode(json.dumps({"alerts": [alert(pod="z")]}).encode())
    assert am.group_of(minimal)["truncatedAlerts"] == 0


def test_mixed_firing_and_resolved_in_one_group_and_the_lifecycle(rig: IngestRig) -> None:
    rig.apply(source("life", "/webhook/life"))
    one = post(rig, "/webhook/life", am_payload(alert(pod="1"), alert(pod="2"))).json()
    assert (one["firing"], one["duplicates"]) == (2, 0)
    two = post(rig, "/webhook/life", am_payload(alert(pod="1"), alert("resolved", pod="2"),
                                                alert("resolved", pod="3"))).json()
    assert (two["duplicates"], two["resolved"], two["ignored"]) == (1, 1, 1)
    three = post(rig, "/webhook/life", am_payload(alert(pod="2"))).json()
    assert three["firing"] == 1, "a resolved alert that fires again is a new firing"
    ours = lambda kind: [e for e in rig.recorder.of_type(kind) if e.get("ce-cmsource") == "default/life"]
    wait_for(lambda: len(ours(FIRING)) == 3 and len(ours(RESOLVED)) == 1, what="3 firing + 1 resolved")
    stats = rig.redis_call(lambda r: r.hgetall("cm:srcstat:{default/life}"))
    assert stats["eventsProcessed"] == "4" and float(stats["lastEventTime"]) > 0


def test_repeat_after_re_emits_and_max_active_expires(rig: IngestRig) -> None:
    rig.apply(source("rep", "/webhook/rep", dedupe={"repeatAfter": "1s", "maxActive": "2s"}))
    assert post(rig, "/webhook/rep", am_payload(alert(pod="r"))).json()["firing"] == 1
    assert post(rig, "/webhook/rep", am_payload(alert(pod="r"))).json()["duplicates"] == 1
    ttl = rig.redis_call(lambda r: [r.ttl(k) for k in r.scan_iter("cm:fp:{default/rep}:*")])
    assert len(ttl) == 1 and 0 < ttl[0] <= 2
    wait_for(lambda: post(rig, "/webhook/rep", am_payload(alert(pod="r"))).json()["repeated"] == 1,
             timeout=5, what="a repeat after 1s")
    wait_for(lambda: not rig.redis_call(lambda r: list(r.scan_iter("cm:fp:{default/rep}:*"))),
             timeout=5, what="the active fingerprint to expire after maxActive")
    assert post(rig, "/webhook/rep", am_payload(alert(pod="r"))).json()["firing"] == 1


def test_dedupe_disabled_emits_every_notification(rig: IngestRig) -> None:
    rig.apply(source("nodup", "/webhook/nodup", dedupe={"enabled": False}))
    for _ in range(3):
        post(rig, "/webhook/nodup", am_payload(alert(pod="n")))
    wait_for(lambda: len([e for e in rig.recorder.of_type(FIRING)
                          if e.get("ce-cmsource") == "default/nodup"]) == 3, what="3 events")


def test_bearer_authentication(rig: IngestRig) -> None:
    rig.apply(secret("am-token", token="t0ken-Secret"),
              source("auth", "/webhook/auth", authentication={"type": "bearer", "secretRef": "am-token"}))
    cfg = rig.redis_call(lambda r: r.hget("cm:cfg:source", "default/auth"))
    assert "t0ken-Secret" not in cfg and "sha256:" in cfg
    payload = am_payload(alert(pod="auth"))
    missing = post(rig, "/webhook/auth", payload)
    wrong = post(rig, "/webhook/auth", payload, authorization="Bearer guess-wrong")
    assert (missing.status_code, wrong.status_code) == (401, 401)
    assert "missing authorization header" in missing.json()["message"]
    assert "guess-wrong" not in wrong.text and "wrong bearer token" in wrong.json()["message"]
    assert not rig.redis_call(lambda r: list(r.scan_iter("cm:fp:{default/auth}:*"))), "a 401 claims nothing"
    ok = post(rig, "/webhook/auth", payload, authorization="Bearer t0ken-Secret")
    assert ok.status_code == 200 and ok.json()["firing"] == 1


def test_hmac_signature_authentication(rig: IngestRig) -> None:
    rig.apply(secret("hook", signing="k3y"),
              source("signed", "/webhook/signed", authentication={
                  "type": "hmac", "secretRef": "hook/signing", "header": "X-Hub-Signature-256"}))
    body = json.dumps(am_payload(alert(pod="sig"))).encode()
    headers = {"content-type": "application/json"}
    bad = httpx.post(rig.url + "/webhook/signed", content=body, timeout=10,
                     headers={**headers, "x-hub-signature-256": sign(body, key="nope")})
    assert bad.status_code == 401 and "does not match" in bad.json()["message"]
    good = httpx.post(rig.url + "/webhook/signed", content=body, timeout=10,
                      headers={**headers, "x-hub-signature-256": sign(body, key="k3y")})
    assert good.status_code == 200 and good.json()["firing"] == 1


def test_apply_refuses_bad_matchers_durations_and_missing_secrets(rig: IngestRig) -> None:
    from cutman.errors import Invalid

    cases = [
        (source("bad1", "/webhook/bad1", matchers=['severity=~"(oops"']), "spec.config.matchers[0]", "(oops"),
        (source("bad2", "/webhook/bad2", dedupe={"repeatAfter": "soon"}), "spec.config.dedupe", "soon"),
        (source("bad3", "/webhook/bad3", authentication={"type": "bearer", "secretRef": "absent"}),
         "spec.config.authentication.secretRef", "Secret default/absent"),
        (source("bad4", "/webhook/bad4", authentication={"type": "bearer", "secretRef": "am-token/nokey"}),
         "spec.config.authentication.secretRef", "no key 'nokey'"),
    ]
    for doc, field, text in cases:
        with pytest.raises(Invalid) as err:
            rig.apply(doc)
        assert err.value.field == field and text in err.value.message
    assert rig.redis_call(lambda r: r.hget("cm:routes", "/webhook/bad3")) is None


def test_errors_name_the_problem(rig: IngestRig) -> None:
    rig.apply(source("err", "/webhook/err"))
    assert post(rig, "/nowhere", {}).status_code == 404
    r415 = httpx.post(rig.url + "/webhook/err", content=b"x", headers={"content-type": "text/plain"})
    assert r415.status_code == 415 and "text/plain" in r415.json()["message"]
    r400 = post(rig, "/webhook/err", {"alerts": [{"status": "firing"}]})
    assert r400.status_code == 400 and r400.json()["field"] == "alerts[0].labels"
    big = post(rig, "/webhook/err", am_payload(*[alert(pod=str(i), x="y" * 200) for i in range(400)]))
    assert big.status_code == 413 and "65536" in big.json()["message"]


def test_metrics_in_prometheus_text_format(rig: IngestRig) -> None:
    """Read back with prometheus_client's own text-format parser."""
    rig.apply(source("met", "/webhook/met"))
    post(rig, "/webhook/met", am_payload(alert(pod="m")))
    post(rig, "/webhook/met", am_payload(alert(pod="m")))
    post(rig, "/nowhere", {})
    text = rig.metrics()
    samples = {(s.name, tuple(sorted(s.labels.items()))): s.value
               for fam in text_string_to_metric_families(text) for s in fam.samples}
    assert samples[("cutman_ingest_alerts_total", (("decision", "firing"), ("source", "default/met")))] == 1
    assert samples[("cutman_ingest_duplicates_total", (("source", "default/met"),))] == 1
    assert samples[("cutman_ingest_rejections_total", (("reason", "not_found"),))] >= 1
    assert samples[("cutman_ingest_webhooks_total", (("code", "200"),))] >= 2
    assert "# TYPE cutman_ingest_request_duration_seconds histogram" in text
    count = samples[("cutman_ingest_request_duration_seconds_count", ())]
    inf = samples[("cutman_ingest_request_duration_seconds_bucket", (("le", "+Inf"),))]
    assert count == inf >= 3


def test_a_source_moved_to_another_path_stops_serving_its_old_path_at_once(rig: IngestRig) -> None:
    """ingest remembers which Source serves a path (routecache); the config read of every
    webhook still notices a move on the very next request."""
    rig.apply(source("mover", "/webhook/before"))
    assert post(rig, "/webhook/before", am_payload(alert(pod="p1"))).status_code == 200
    rig.apply(source("mover", "/webhook/after"))
    assert post(rig, "/webhook/before", am_payload(alert(pod="p2"))).status_code == 404
    assert post(rig, "/webhook/after", am_payload(alert(pod="p3"))).json()["firing"] == 1
    rig.apply(source("mover", "/webhook/before"))
    assert post(rig, "/webhook/after", am_payload(alert(pod="p4"))).status_code == 404
    assert post(rig, "/webhook/before", am_payload(alert(pod="p5"))).json()["firing"] == 1
