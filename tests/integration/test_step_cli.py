"""step-cli's executor and host with real processes and a real Redis.

No doubles: commands run under a real /bin/sh (or with no shell for `args`), secrets are
read from the real RedisStore, runs are created and saved through StepHost.
"""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cutman.adapters.store import RedisStore
from cutman.core import engine
from cutman.models.cloudevent import make_event
from cutman.models.events import EventType, Ext
from cutman.models.resources import Step, WorkflowSpec
from cutman.models.run import Run, RunPhase, StepPhase
from cutman.runtime.loader import load
from cutman.stephost import StepHost, StepSecrets

runner = load("step-cli").runner


def make_run(steps: list[dict[str, Any]], runtime: dict[str, Any] | None = None,
             alert: dict[str, Any] | None = None) -> Run:
    spec = WorkflowSpec.model_validate({"runtime": runtime or {}, "steps": steps})
    return engine.new_run(run_id="r1", workflow="default/wf", spec=spec, event_id="e1",
                          event_type=EventType.ALERT_FIRING, source=None, source_context={},
                          alert=alert or {"alertname": "X"}, data=None, now="2026-11-28T10:00:00.000Z")


def execute(run: Run, executor: Any = None) -> engine.Outcome:
    ex = executor or runner.CliExecutor()
    return asyncio.run(ex.execute(run=run, step=run.spec.steps[0], secrets=StepSecrets()))


def test_args_form_runs_without_a_shell() -> None:
    run = make_run([{"name": "a", "type": "cli", "args": ["printf", "%s|", "{{ .alert.alertname }}", "$(id)", "a b"]}],
                   alert={"alertname": "`touch X`"})
    out = execute(run)
    assert out.phase is StepPhase.SUCCEEDED, out
    assert out.output == "`touch X`|$(id)|a b|"


def test_missing_program_in_args_fails_clearly() -> None:
    out = execute(make_run([{"name": "a", "type": "cli", "args": ["/nonexistent/prog"]}]))
    assert out.phase is StepPhase.FAILED and out.error and "cannot start /nonexistent/prog" in out.error


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    """The child starts a grandchild that writes its pid; both must be gone after the timeout."""
    pidfile = tmp_path / "grandchild.pid"
    script = f"sh -c 'trap \"\" TERM; echo $$ > {pidfile}; sleep 60' & sleep 60"
    run = make_run([{"name": "a", "type": "cli", "command": script, "timeoutMinutes": 0.02}])
    started = time.monotonic()
    out = execute(run)
    assert time.monotonic() - started < 10
    assert out.phase is StepPhase.FAILED and out.error and "timed out after 0.02 minutes" in out.error
    pid = int(pidfile.read_text())
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and _alive(pid):
        time.sleep(0.05)
    assert not _alive(pid), "the grandchild (ignoring SIGTERM) survived the timeout"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_output_cap_from_cfg_with_marker() -> None:
    ex = runner.CliExecutor()
    ex.configure({"CUTMAN_OUTPUT_LIMIT": "100"})
    out = execute(make_run([{"name": "a", "type": "cli", "command": "head -c 1000 /dev/zero | tr '\\0' x; echo err >&2"}]), ex)
    assert out.phase is StepPhase.SUCCEEDED
    assert out.output.startswith("x" * 100) and "x" * 101 not in out.output
    assert out.output.endswith("[... 900 more bytes cut by cutman]")
    assert out.stderr == "err\n"
    assert out.result is None


def test_bad_output_limit_is_refused() -> None:
    with pytest.raises(ValueError, match="CUTMAN_OUTPUT_LIMIT='lots'"):
        runner.CliExecutor().configure({"CUTMAN_OUTPUT_LIMIT": "lots"})


def test_environment_and_json_result_but_not_the_function_env() -> None:
    os.environ["CUTMAN_TEST_LEAK"] = "leak"
    try:
        run = make_run([{"name": "a", "type": "cli",
                         "command": 'printf \'{"url": "%s", "leak": "%s"}\' "$PROM_URL" "${CUTMAN_TEST_LEAK:-}"'}],
                       runtime={"environment": [{"name": "PROM_URL", "value": "http://prom:9090"}]})
        out = execute(run)
    finally:
        del os.environ["CUTMAN_TEST_LEAK"]
    assert out.result == {"url": "http://prom:9090", "leak": ""}


@pytest.fixture
def store(redis_url: str) -> Iterator[RedisStore]:
    s = RedisStore(redis_url)
    yield s
    asyncio.run(s.close())


def start_event(event_id: str = "ev-1") -> Any:
    return make_event(id=event_id, type=EventType.ALERT_FIRING, source="/test", data={"alertname": "X"},
                      extensions={Ext.SOURCE: "default/am"})


def test_secret_env_is_given_to_the_step_and_masked_everywhere(redis_url: str) -> None:
    async def scenario() -> Run:
        store = RedisStore(redis_url)
        try:
            await store.put_secret("default/db", {"password": "hunter2-secret"})
            await store.put_config("workflow", "default/wf", {"spec": {
                "runtime": {"secretEnv": {"DB_PASSWORD": "db/password"}},
                "steps": [{"name": "a", "type": "cli",
                           "command": 'echo "pw=$DB_PASSWORD"; echo "$DB_PASSWORD" >&2; '
                                      'printf \'{"p": "%s"}\' "$DB_PASSWORD" > /dev/null; exit 3'}]}})
            host = StepHost(store, runner.CliExecutor())
            reply = await host.handle(path="/start/default/wf", event=start_event())
            assert reply.get_type() == EventType.RUN_FINISHED
            run = await store.get_run(reply.get_extension(Ext.RUN))  # type: ignore[arg-type]
            assert run is not None
            return run
        finally:
            await store.close()

    run = asyncio.run(scenario())
    state = run.state("a")
    assert state.output == "pw=***\n" and state.stderr == "***\n"
    assert state.error == "exit code 3: ***"
    assert "hunter2" not in run.to_json()


def test_missing_secret_fails_the_step_without_running_it(redis_url: str) -> None:
    async def scenario() -> Run:
        store = RedisStore(redis_url)
        try:
            await store.put_config("workflow", "default/wf", {"spec": {
                "steps": [{"name": "a", "type": "cli", "command": "echo ran", "secretEnv": {"T": "nope/token"}}]}})
            reply = await StepHost(store, runner.CliExecutor()).handle(path="/start/default/wf", event=start_event())
            run = await store.get_run(reply.get_extension(Ext.RUN))  # type: ignore[arg-type]
            assert run is not None
            return run
        finally:
            await store.close()

    run = asyncio.run(scenario())
    assert run.phase is RunPhase.FAILED
    assert run.state("a").error == (
        "secretEnv.T: Secret default/nope does not exist (from 'nope/token'); apply it in namespace default")
    assert run.state("a").output == ""


def test_stuck_run_is_failed_by_the_next_delivery(redis_url: str) -> None:
    """A run whose step never reported back is failed, with the reason, when touched after its deadline."""
    async def scenario() -> tuple[Any, Run]:
        store = RedisStore(redis_url)
        try:
            await store.put_config("workflow", "default/wf", {"spec": {"timeoutMinutes": 1, "steps": [
                {"name": "a", "type": "cli", "command": "echo a"}, {"name": "b", "type": "cli", "command": "echo b"}]}})
            t0 = "2026-11-28T10:00:00.000Z"
            host = StepHost(store, runner.CliExecutor(), now=lambda: t0)
            first = await host.handle(path="/start/default/wf", event=start_event())
            assert first.get_extension(Ext.STEP) == "b"
            late = StepHost(store, runner.CliExecutor(), now=lambda: "2026-11-28T10:01:00.001Z")
            reply = await late.handle(path="/", event=first)
            run = await store.get_run(first.get_extension(Ext.RUN))  # type: ignore[arg-type]
            assert run is not None
            return reply, run
        finally:
            await store.close()

    reply, run = asyncio.run(scenario())
    assert reply.get_type() == EventType.RUN_FINISHED
    assert run.phase is RunPhase.FAILED
    assert run.error == "run made no progress before its deadline 2026-11-28T10:01:00.000Z"
    assert run.state("a").phase is StepPhase.SUCCEEDED and run.state("b").phase is StepPhase.FAILED


def test_step_model_accepts_secret_env() -> None:
    step = Step.model_validate({"name": "a", "type": "cli", "command": "x", "secretEnv": {"A": "s/k"}})
    assert step.secret_env == {"A": "s/k"}
