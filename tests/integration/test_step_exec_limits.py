"""NUL bytes, oversized values and huge alerts on their way to a step's argv and environment.

Before: a NUL byte in a label used by an `args:` step raised ValueError (500 six times,
dead-lettered, run stuck Running); an alert over 128 KiB of JSON made every cli step
fail with "Argument list too long" because it was one environment variable. Now NUL
bytes are dropped from rendered values (as in `command`), the alert is a 0600 file
(`CUTMAN_ALERT_FILE`), and what cannot fit in exec fails the step with the reason.

Real components: redis-server, the step-cli host and executor, /bin/dash and coreutils.
No doubles.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from cutman.models.run import RunPhase, StepPhase
from cutman.subproc import MAX_ARG_STRLEN

from tests.steps import run_workflow


def test_nul_label_in_args_and_command_is_dropped_not_a_crash(redis_url: str) -> None:
    spec = {"steps": [
        {"name": "argv", "type": "cli", "args": ["printf", "[%s]", "{{ .alert.labels.v }}"]},
        {"name": "shell", "type": "cli", "command": "printf '[%s]' {{ .alert.labels.v }}"},
    ]}
    run = run_workflow(redis_url, spec, alert={"alertname": "Nul", "labels": {"v": "a\x00b\x00"}})
    assert run.phase is RunPhase.SUCCEEDED, run.error
    assert run.state("argv").output == "[ab]"
    assert run.state("shell").output == "[ab]"


def test_nul_in_a_secret_fails_the_step_with_a_reason(redis_url: str) -> None:
    spec = {"steps": [{"name": "use", "type": "cli", "command": "true", "secretEnv": {"TOKEN": "tok/token"}}]}
    run = run_workflow(redis_url, spec, secrets={"default/tok": {"token": "ab\x00cd-secret"}})
    step = run.state("use")
    assert run.phase is RunPhase.FAILED and step.phase is StepPhase.FAILED
    assert step.error is not None
    assert "environment variable TOKEN contains a NUL byte" in step.error
    assert "secret" not in step.error.replace("TOKEN", "")


def test_an_alert_over_128_kib_is_a_file_and_steps_still_run(redis_url: str, tmp_path: Path) -> None:
    big = "x" * (300 * 1024)
    seen = tmp_path / "path"
    spec = {"steps": [
        {"name": "sleep", "type": "cli", "command": "sleep 0.1"},
        {"name": "echo", "type": "cli", "command": "echo done"},
        {"name": "read", "type": "cli", "command":
            f'printf %s "$CUTMAN_ALERT_FILE" > {seen}; [ -z "${{CUTMAN_ALERT+set}}" ] || exit 3;'
            ' stat -c %a "$CUTMAN_ALERT_FILE"; stat -c %a "$(dirname "$CUTMAN_ALERT_FILE")";'
            ' wc -c < "$CUTMAN_ALERT_FILE"'},
    ]}
    alert = {"alertname": "Huge", "annotations": {"description": big}}
    run = run_workflow(redis_url, spec, alert=alert)
    assert run.phase is RunPhase.SUCCEEDED, run.error
    assert run.state("echo").output == "done\n"
    mode, folder_mode, size = run.state("read").output.split()
    assert (mode, folder_mode) == ("600", "700")
    assert int(size) == len(json.dumps(run.alert))
    assert not Path(seen.read_text()).exists(), "the alert file is removed after the step"


def test_a_small_alert_is_in_the_file_and_the_variable(redis_url: str) -> None:
    spec = {"steps": [{"name": "both", "type": "cli",
                       "command": 'printf %s "$CUTMAN_ALERT" | cmp -s "$CUTMAN_ALERT_FILE" - && printf same'}]}
    run = run_workflow(redis_url, spec, alert={"alertname": "Small", "labels": {"pod": "web-1"}})
    assert run.phase is RunPhase.SUCCEEDED, run.error
    assert run.state("both").output == "same"


def test_an_argument_too_large_for_exec_fails_the_step_with_the_reason(redis_url: str) -> None:
    spec = {"steps": [{"name": "argv", "type": "cli", "args": ["printf", "%s", "{{ .alert.annotations.summary }}"]}]}
    run = run_workflow(redis_url, spec, alert={"alertname": "Big", "annotations": {"summary": "y" * 200_000}})
    step = run.state("argv")
    assert run.phase is RunPhase.FAILED and step.phase is StepPhase.FAILED
    assert step.error == (f"cannot start printf: argument 2 is 200001 bytes; one string holds at most"
                          f" {MAX_ARG_STRLEN}")


def test_a_command_value_too_large_for_the_environment_fails_the_step(redis_url: str) -> None:
    spec = {"steps": [{"name": "sh", "type": "cli", "command": "printf %s {{ .alert.annotations.summary }} | wc -c"}]}
    run = run_workflow(redis_url, spec, alert={"alertname": "Big", "annotations": {"summary": "y" * 200_000}})
    step = run.state("sh")
    assert run.phase is RunPhase.FAILED and step.error is not None
    assert "an environment variable holds at most" in step.error


def test_scripts_run_under_dash_unless_configured(redis_url: str) -> None:
    spec = {"steps": [{"name": "which", "type": "cli", "command": "printf '%s' \"${BASH_VERSION:-dash}\""}]}
    assert run_workflow(redis_url, spec).state("which").output == "dash"
    bash = run_workflow(redis_url, spec, cfg={"CUTMAN_SHELL": "/bin/bash"}, event_id="ev-bash")
    assert bash.state("which").output not in ("", "dash")


def test_a_value_copied_into_arithmetic_cannot_run_under_dash(redis_url: str, tmp_path: Path) -> None:
    canary = tmp_path / "pwn"
    spec = {"steps": [{"name": "calc", "type": "cli",
                       "command": "X={{ .alert.labels.n }}; Y=$X; echo $((Y + 1))"}]}
    run = run_workflow(redis_url, spec, alert={"alertname": "A", "labels": {"n": f"a[$(touch {canary})]"}})
    assert not canary.exists()
    assert run.phase is RunPhase.FAILED
    assert "Illegal number" in (run.state("calc").error or "")


def test_steps_run_in_a_scratch_folder_under_cutman_scratch_dir(redis_url: str, tmp_path: Path,
                                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """`cutman dev` puts scratch folders on tmpfs (CUTMAN_SCRATCH_DIR): the step's HOME and
    its alert file are under it, and the folder is gone after the step."""
    root = tmp_path / "scratch"
    root.mkdir()
    monkeypatch.setenv("CUTMAN_SCRATCH_DIR", str(root))
    spec = {"steps": [{"name": "where", "type": "cli", "command": 'printf "%s %s" "$HOME" "$CUTMAN_ALERT_FILE"'}]}
    run = run_workflow(redis_url, spec, alert={"alertname": "Scratch"})
    assert run.phase is RunPhase.SUCCEEDED, run.error
    home, alert_file = run.state("where").output.split()
    assert Path(home).parent == root and alert_file.startswith(home + "/")
    assert list(root.iterdir()) == [], "the scratch folder is removed after the step"


def test_a_relative_cutman_scratch_dir_fails_the_step_with_the_reason(redis_url: str,
                                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CUTMAN_SCRATCH_DIR", "scratch")
    run = run_workflow(redis_url, {"steps": [{"name": "s", "type": "cli", "command": "true"}]})
    assert run.state("s").phase is StepPhase.FAILED
    assert run.state("s").error is not None and "CUTMAN_SCRATCH_DIR='scratch': must be an absolute path" in run.state("s").error


def test_a_step_that_leaves_a_background_child_ends_when_its_shell_does(redis_url: str) -> None:
    """The shell exits 0 at once; its `sleep 30` still holds the output pipes. The step
    succeeds with its output, and the leftover is killed, instead of running until the
    step's timeout and being reported timed out."""
    spec = {"steps": [{"name": "bg", "type": "cli", "command": "sleep 30 & echo started",
                       "timeoutMinutes": 0.1}]}
    started = time.monotonic()
    run = run_workflow(redis_url, spec)
    assert time.monotonic() - started < 4.5  # the timeout is 6 s
    assert run.phase is RunPhase.SUCCEEDED, run.state("bg")
    assert run.state("bg").output.strip() == "started"
