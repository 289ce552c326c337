"""The reconciler's status decisions (functions/reconciler/function/status.py): pure, no doubles."""

from __future__ import annotations

from types import ModuleType

from cutman.models.resources import Kind
from cutman.runtime.loader import submodule


def status() -> ModuleType:
    return submodule("reconciler", "status")


def test_ready_true_without_problems_false_with_reason_and_every_problem() -> None:
    s = status()
    ok = s.desired_status(kind=Kind.WORKFLOW, problems=[], previous=None, generation=2, now="T1")
    assert ok["conditions"][0] == {"type": "Ready", "status": "True", "reason": "Ready",
                                  "message": "all references resolved", "lastTransitionTime": "T1"}
    assert ok["observedGeneration"] == 2 and "ready" not in ok
    bad = s.desired_status(kind=Kind.WORKFLOW, problems=["sink 'a' missing", "sink 'b' missing"],
                           previous=ok, generation=2, now="T2")
    cond = bad["conditions"][0]
    assert (cond["status"], cond["reason"], cond["lastTransitionTime"]) == ("False", "SinkNotFound", "T2")
    assert cond["message"] == "sink 'a' missing; sink 'b' missing"
    src = s.desired_status(kind=Kind.SOURCE, problems=["workflow 'x' missing"], previous=None,
                           generation=None, now="T")
    assert src["ready"] is False and src["conditions"][0]["reason"] == "WorkflowNotFound"
    assert "observedGeneration" not in src


def test_transition_time_kept_while_status_holds_so_rewrites_are_no_ops() -> None:
    s = status()
    first = s.desired_status(kind=Kind.SINK, problems=[], previous=None, generation=1, now="T1")
    again = s.desired_status(kind=Kind.SINK, problems=[], previous=first, generation=1, now="T9")
    assert again == first
    assert not s.changed(first, again)
    assert s.changed(first, {**again, "observedGeneration": 2})
    assert s.changed(None, again)


def test_counters_from_ingest_stats() -> None:
    s = status()
    assert s.source_counters({"eventsProcessed": "7", "lastEventTime": "1700000000"}) == {
        "eventsProcessed": 7, "lastEventTime": "2023-11-14T22:13:20Z"}
    assert s.source_counters({"eventsProcessed": "x"}) == {}
    assert s.source_counters({}) == {}
