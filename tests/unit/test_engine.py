"""The workflow engine's decisions over many workflow shapes: pure, no doubles."""

from __future__ import annotations

from typing import Any

import pytest
from cutman.core import engine
from cutman.models.resources import StepType, WorkflowSpec
from cutman.models.run import Next, Run, RunPhase, StepPhase

T0, T1, T2 = "2026-11-28T10:00:00.000Z", "2026-11-28T10:00:01.000Z", "2026-11-28T10:00:02.000Z"
OK = engine.Outcome(StepPhase.SUCCEEDED, output="ok\n")
BAD = engine.Outcome(StepPhase.FAILED, error="exit code 1: boom", exit_code=1)


def cli(name: str, **extra: Any) -> dict[str, Any]:
    return {"name": name, "type": "cli", "command": "true", **extra}


def make_run(steps: list[dict[str, Any]], outputs: list[dict[str, str]] | None = None,
             alert: dict[str, Any] | None = None) -> Run:
    spec = WorkflowSpec.model_validate({"steps": steps, "outputs": outputs or []})
    return engine.new_run(
        run_id="r1", workflow="default/wf", spec=spec, event_id="e1", event_type="dev.cutman.alert.firing",
        source="default/am", source_context={"team": "sre"},
        alert=alert or {"alertname": "HighCPU", "severity": "critical", "labels": {"pod": "web-1"}},
        data=None, now=T0,
    )


def drive(run: Run, outcomes: dict[str, engine.Outcome]) -> tuple[Run, list[str]]:
    """Run the engine to the end the way the step functions do; return the steps run."""
    ran: list[str] = []
    adv = engine.start(run=run, now=T0)
    run = adv.run
    while isinstance(adv.action, engine.RunStep):
        name = adv.action.step
        ran.append(name)
        run = engine.begin_step(run=run, step=name, now=T1)
        adv = engine.complete_step(run=run, step=name, outcome=outcomes.get(name, OK), now=T2)
        run = adv.run
    return run, ran


def test_linear_workflow_succeeds_with_outputs() -> None:
    run = make_run([cli("a"), cli("b")], outputs=[{"name": "s", "value": "{{ .steps.a.output | trim }}-{{ .alert.alertname }}"}])
    run, ran = drive(run, {})
    assert ran == ["a", "b"]
    assert run.phase is RunPhase.SUCCEEDED and run.completionTime == T2
    assert run.outputs == {"s": "ok-HighCPU"}
    assert run.state("a").next == Next(step="b")
    assert run.state("b").next == Next(finish=RunPhase.SUCCEEDED)


def test_failed_step_fails_run_and_stops() -> None:
    run, ran = drive(make_run([cli("a"), cli("b"), cli("c")]), {"b": BAD})
    assert ran == ["a", "b"]
    assert run.phase is RunPhase.FAILED
    assert run.error == "step b failed: exit code 1: boom"
    assert run.state("c").phase is StepPhase.PENDING


def test_continue_on_error_goes_on() -> None:
    run, ran = drive(make_run([cli("a", continueOnError=True), cli("b")]), {"a": BAD})
    assert ran == ["a", "b"]
    assert run.phase is RunPhase.SUCCEEDED
    assert run.state("a").phase is StepPhase.FAILED


def test_condition_false_skips_and_true_runs() -> None:
    steps = [
        cli("probe"),
        cli("page", condition='{{ eq .alert.severity "warning" }}'),
        cli("fix", condition="{{ .steps.probe.success }}"),
    ]
    run, ran = drive(make_run(steps), {})
    assert ran == ["probe", "fix"]
    assert run.state("page").phase is StepPhase.SKIPPED
    assert run.phase is RunPhase.SUCCEEDED


def test_leading_steps_skipped_at_start() -> None:
    run = make_run([cli("a", condition="false"), cli("b")])
    adv = engine.start(run=run, now=T0)
    assert adv.action == engine.RunStep("b", StepType.CLI)
    assert adv.run.state("a").phase is StepPhase.SKIPPED
    assert adv.run.phase is RunPhase.RUNNING


def test_all_skipped_finishes_at_start() -> None:
    adv = engine.start(run=make_run([cli("a", condition="{{ .alert.labels.missing }}")]), now=T0)
    assert adv.action == engine.Finish(RunPhase.SUCCEEDED)
    assert adv.run.phase is RunPhase.SUCCEEDED


def test_conditional_step_routes_to_nested_executor() -> None:
    steps = [cli("a"), {"name": "b", "type": "conditional", "condition": "yes",
                        "agent": {"name": "inner", "type": "agent", "goal": "g"}}]
    run = make_run(steps)
    adv = engine.start(run=run, now=T0)
    run = engine.begin_step(run=adv.run, step="a", now=T1)
    adv = engine.complete_step(run=run, step="a", outcome=OK, now=T2)
    assert adv.action == engine.RunStep("b", StepType.AGENT)


def test_broken_condition_fails_the_step_with_reason() -> None:
    run, _ = drive(make_run([cli("a"), cli("b", condition="{{ if }}")]), {})
    assert run.phase is RunPhase.FAILED
    assert run.state("b").phase is StepPhase.FAILED
    assert (run.state("b").error or "").startswith("condition:")


def test_replay_returns_recorded_decision_even_after_progress() -> None:
    run, _ = drive(make_run([cli("a"), cli("b")]), {})
    assert engine.replay(run=run, step="a") == engine.RunStep("b", StepType.CLI)
    assert engine.replay(run=run, step="b") == engine.Finish(RunPhase.SUCCEEDED)


def test_replay_of_unfinished_step_is_none() -> None:
    run = engine.start(run=make_run([cli("a")]), now=T0).run
    assert engine.replay(run=run, step="a") is None
    running = engine.begin_step(run=run, step="a", now=T1)
    assert engine.replay(run=running, step="a") is None
    assert running.state("a").attempts == 1


def test_engine_does_not_mutate_its_input() -> None:
    run = make_run([cli("a")])
    before = run.model_dump()
    engine.start(run=run, now=T0)
    engine.complete_step(run=engine.begin_step(run=run, step="a", now=T1), step="a", outcome=OK, now=T2)
    assert run.model_dump() == before


def test_step_results_feed_later_templates() -> None:
    out = engine.Outcome(StepPhase.SUCCEEDED, output='{"pod":"web-1"}', result={"pod": "web-1"})
    run, _ = drive(make_run([cli("a"), cli("b", condition='{{ eq .steps.a.result.pod "web-1" }}')],
                            outputs=[{"name": "pod", "value": "{{ .steps.a.result.pod }}"}]), {"a": out})
    assert run.state("b").phase is StepPhase.SUCCEEDED
    assert run.outputs == {"pod": "web-1"}


@pytest.mark.parametrize("n", [1, 2, 5, 20])
def test_long_linear_workflows(n: int) -> None:
    run, ran = drive(make_run([cli(f"s{i}") for i in range(n)]), {})
    assert ran == [f"s{i}" for i in range(n)]
    assert run.phase is RunPhase.SUCCEEDED


def test_deadline_is_the_workflow_timeout_or_the_sum_of_step_timeouts() -> None:
    run = make_run([cli("a", timeoutMinutes=2), cli("b")])
    assert engine.deadline(run) == "2026-11-28T10:17:00.000Z"  # 2 + 10 (default) + 5 margin
    spec = run.spec.model_copy(update={"timeout_minutes": 1.5})
    assert engine.deadline(run.model_copy(update={"spec": spec})) == "2026-11-28T10:01:30.000Z"


def test_overdue_run_is_expired_with_the_reason_and_outputs() -> None:
    run = make_run([cli("a"), cli("b")], outputs=[{"name": "o", "value": "{{ .steps.a.output | trim }}"}])
    run = engine.start(run=run, now=T0).run
    run = engine.complete_step(run=engine.begin_step(run=run, step="a", now=T1), step="a", outcome=OK, now=T2).run
    assert engine.overdue(run=run, now="2026-11-28T10:17:00.000Z") is None
    reason = engine.overdue(run=run, now="2026-11-28T10:25:00.001Z")
    assert reason == "run made no progress before its deadline 2026-11-28T10:25:00.000Z"
    adv = engine.expire(run=run, reason=reason, now="2026-11-28T10:26:00.000Z")
    assert adv.action == engine.Finish(RunPhase.FAILED, reason)
    assert adv.run.state("b").phase is StepPhase.FAILED and adv.run.state("b").error == reason
    assert adv.run.state("a").phase is StepPhase.SUCCEEDED and adv.run.outputs == {"o": "ok"}
    assert engine.overdue(run=adv.run, now="2027-01-01T00:00:00.000Z") is None


def test_agent_outcome_details_are_recorded_on_the_step() -> None:
    run = engine.start(run=make_run([cli("a")]), now=T0).run
    out = engine.Outcome(StepPhase.SUCCEEDED, tool_calls=({"name": "kubectl"},), usage={"total_tokens": 5},
                         transcript=({"role": "user", "content": "hi"},))
    run = engine.complete_step(run=engine.begin_step(run=run, step="a", now=T1), step="a", outcome=out, now=T2).run
    assert run.state("a").toolCalls == [{"name": "kubectl"}] and run.state("a").usage == {"total_tokens": 5}
    assert run.state("a").transcript == [{"role": "user", "content": "hi"}]
