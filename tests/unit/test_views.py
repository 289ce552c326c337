"""`cutman runs get`: each step's phase, duration, result, approval and tool calls."""

from __future__ import annotations

from cutman.core import engine
from cutman.models.run import StepPhase
from cutman.runtime.views import run_details, run_view

from tests.unit.test_engine import T0, T1, T2, cli, make_run


def test_details_show_results_tool_calls_and_tokens() -> None:
    steps = [cli("gather"), {"name": "analyze", "type": "agent", "goal": "g"}]
    run = engine.start(run=make_run(steps), now=T0).run
    run = engine.complete_step(run=engine.begin_step(run=run, step="gather", now=T1), step="gather",
                               outcome=engine.Outcome(StepPhase.SUCCEEDED, result={"pod": "web-1"}), now=T2).run
    agent = engine.Outcome(
        StepPhase.SUCCEEDED, result={"summary": "cpu"}, usage={"total_tokens": 42, "calls": 2},
        tool_calls=({"name": "kubectl", "arguments": {"verb": "get"}, "ok": True, "durationSeconds": 0.25},
                    {"name": "promql", "arguments": "{bad", "ok": False, "error": "arguments are not valid JSON",
                     "durationSeconds": 0.0}),
        transcript=({"role": "user", "content": "g"},))
    run = engine.complete_step(run=engine.begin_step(run=run, step="analyze", now=T1), step="analyze",
                               outcome=agent, now=T2).run
    view = run_view(run)
    assert view["steps"][1]["toolCalls"][0]["name"] == "kubectl"
    assert view["steps"][1]["transcript"] == [{"role": "user", "content": "g"}]
    assert "transcript" not in run_view(run, full=False)["steps"][1]
    text = run_details(view)
    assert [line.split()[:4] for line in text.splitlines() if line.startswith(("gather ", "analyze "))] == [
        ["gather", "cli", "Succeeded", "1.00s"], ["analyze", "agent", "Succeeded", "1.00s"]]
    assert '\ngather:\n  result: {"pod": "web-1"}' in text
    assert '  tool kubectl {"verb": "get"} 0.25s ok' in text
    assert "  tool promql {bad 0.00s error: arguments are not valid JSON" in text
    assert "  tokens: 42 in 2 model calls" in text
