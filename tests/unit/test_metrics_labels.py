"""Metric labels stay bounded whatever a model calls its tools (prometheus_client's registry)."""

from __future__ import annotations

from cutman import metrics


def _tool_labels() -> set[str]:
    return {s.labels["tool"] for m in metrics.TOOL_CALLS.collect() for s in m.samples}


def test_made_up_tool_names_do_not_grow_the_series_without_bound() -> None:
    calls = [{"name": f"made-up-{i}", "ok": False} for i in range(3 * metrics.TOOL_LABELS_MAX)]
    metrics.step_done(step_type="agent", phase="Succeeded", seconds=0.1, workflow="default/wf", usage=None,
                      tool_calls=calls)
    labels = _tool_labels()
    assert len(labels) <= metrics.TOOL_LABELS_MAX + 1 and "other" in labels
    before = len(labels)
    metrics.step_done(step_type="agent", phase="Succeeded", seconds=0.1, workflow="default/wf", usage=None,
                      tool_calls=[{"name": "yet-another", "ok": True}, {"name": "made-up-0", "ok": True}])
    assert len(_tool_labels()) == before, "a name already labelled keeps its series; a new one is other"
