"""PingSources planned for schedule Sources (shared/core/source_planning.py)."""

from __future__ import annotations

import json

from cutman.core.planning import plan_namespace
from cutman.core.source_planning import plan_source_objects
from cutman.models.resources import Source


def src(name: str, type_: str = "schedule", **config: object) -> Source:
    cfg = {"cron": "*/5 * * * *", **config} if type_ == "schedule" else {"path": f"/{name}"}
    return Source.model_validate({"apiVersion": "cutman.dev/v1alpha1", "kind": "Source",
                                  "metadata": {"name": name, "namespace": "ops", "uid": "u-1"},
                                  "spec": {"type": type_, "config": cfg}})


def test_a_ping_source_per_schedule_source_pointing_at_ingest() -> None:
    objs = plan_source_objects([src("nightly", timezone="Europe/Paris"), src("hook", "webhook")], installation="ops")
    assert len(objs) == 1
    ping = objs[0]
    assert (ping["apiVersion"], ping["kind"], ping["metadata"]["name"]) == ("sources.knative.dev/v1", "PingSource",
                                                                           "cm-ops-ping-nightly")
    assert ping["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "cutman"
    assert ping["metadata"]["ownerReferences"][0]["uid"] == "u-1"
    assert ping["spec"]["schedule"] == "*/5 * * * *" and ping["spec"]["timezone"] == "Europe/Paris"
    assert ping["spec"]["sink"]["ref"]["name"] == "cutman-ingest"
    assert ping["spec"]["sink"]["uri"] == "/sources/ops/nightly"
    assert json.loads(ping["spec"]["data"]) == {"source": "ops/nightly", "schedule": "*/5 * * * *"}


def test_namespace_plan_includes_ping_sources_of_that_namespace_only() -> None:
    other = Source.model_validate({**src("x").model_dump(by_alias=True), "metadata": {"name": "x", "namespace": "b"}})
    plan = plan_namespace(installation="cutman", namespace="ops", workflows=[], sources=[src("nightly"), other], sinks=[])
    assert plan.keys() == {"PingSource/cm-ops-ping-nightly"}
