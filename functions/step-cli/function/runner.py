"""Running a cli step: a shell script (or an argv list) with untrusted values only in env.

Template expressions inside `command` become quoted references to environment
variables (cutman.core.shellsafe), so an alert label like `$(rm -rf /)` is data, never
code. With `args` there is no shell at all: each rendered argument is one argv entry.
The child gets a clean environment (not this function's, which holds the Redis URL):
`runtime.environment`, the step's secrets, and the CUTMAN_* variables; its own process
group (a timeout kills the whole tree) and capped output (`CUTMAN_OUTPUT_LIMIT` bytes).

Scripts run under dash (`subproc.SHELL`; `CUTMAN_SHELL` overrides it, which the tests use
to run the hostile corpus under bash too). The alert reaches the step as a file,
`CUTMAN_ALERT_FILE` (0600, removed after the step), and as `CUTMAN_ALERT` only while its
JSON fits in `ALERT_ENV_MAX` bytes: an alert over 128 KiB in one variable used to make
every exec fail with "Argument list too long". Rendered `args` lose NUL bytes as
template values in `command` do; a value too large for exec fails the step with the
reason instead of reaching exec.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from cutman.core import jsonlimits
from cutman.errors import BadRequest, PayloadTooLarge
from cutman.models.kinds import StepType
from cutman.subproc import BASE_ENV, DEFAULT_OUTPUT_LIMIT, SHELL, run_capped

if TYPE_CHECKING:
    # The engine, the run models and the template sandbox are imported by execute(), on
    # the first event: start() and readiness need only the limits.
    from cutman.core import engine
    from cutman.models.resources import Step
    from cutman.models.run import Run
    from cutman.stephost import StepSecrets

OUTPUT_LIMIT_CFG = "CUTMAN_OUTPUT_LIMIT"
SHELL_CFG = "CUTMAN_SHELL"
ALERT_ENV_MAX = 32 * 1024


@dataclass(frozen=True)
class Limits:
    output_bytes: int = DEFAULT_OUTPUT_LIMIT
    shell: str = SHELL

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, str]) -> Limits:
        shell = cfg.get(SHELL_CFG) or SHELL
        if not shell.startswith("/"):
            raise ValueError(f"{SHELL_CFG}={shell!r}: must be an absolute path")
        raw = cfg.get(OUTPUT_LIMIT_CFG)
        if not raw:
            return cls(shell=shell)
        try:
            value = int(raw)
        except ValueError:
            raise ValueError(f"{OUTPUT_LIMIT_CFG}={raw!r}: not a number of bytes") from None
        if value < 1:
            raise ValueError(f"{OUTPUT_LIMIT_CFG}={raw!r}: must be at least 1 byte")
        return cls(value, shell)


def _json_object(stdout: str) -> dict[str, Any] | None:
    """stdout as the step's result when it is a JSON object the run document can hold."""
    try:
        value = jsonlimits.loads(stdout, what="stdout")
    except (BadRequest, PayloadTooLarge):
        return None
    return value if isinstance(value, dict) else None


def step_env(run: Run, step: Step, extra: dict[str, str], secrets: StepSecrets | None = None) -> dict[str, str]:
    env = {**BASE_ENV, **run.environment, **(secrets.env if secrets else {}), **extra}
    env.update(CUTMAN_RUN_ID=run.id, CUTMAN_WORKFLOW=run.workflow, CUTMAN_STEP=step.name)
    alert = json.dumps(run.alert or {})
    if len(alert) <= ALERT_ENV_MAX:  # ensure_ascii: characters are bytes
        env["CUTMAN_ALERT"] = alert
    return env


def step_files(run: Run) -> dict[str, tuple[str, bytes]]:
    """Files the step reads by path: the alert as JSON in CUTMAN_ALERT_FILE."""
    return {"CUTMAN_ALERT_FILE": ("alert.json", json.dumps(run.alert or {}).encode())}


class CliExecutor:
    step_type = StepType.CLI

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    def configure(self, cfg: Mapping[str, str]) -> None:
        self.limits = Limits.from_cfg(cfg)

    async def execute(self, *, run: Run, step: Step, secrets: StepSecrets) -> engine.Outcome:
        from cutman.core import engine
        from cutman.core.context import build_context
        from cutman.core.shellsafe import clean_value, command_env, compile_command
        from cutman.core.templating import TemplateError, render
        from cutman.models.run import StepPhase
        from cutman.stephost import DEFAULT_STEP_TIMEOUT_MIN

        context = build_context(run)
        try:
            if step.args:
                argv = [clean_value(render(a, context)) for a in step.args]
                extra: dict[str, str] = {}
            else:
                compiled = compile_command(step.command or "")
                argv = [self.limits.shell, "-c", compiled.script]
                extra = command_env(compiled, context)
        except TemplateError as exc:
            return engine.Outcome(StepPhase.FAILED, error=f"template: {exc.message}")
        timeout = (step.timeout_minutes or DEFAULT_STEP_TIMEOUT_MIN) * 60
        return await self._run(argv, step_env(run, step, extra, secrets), timeout, step_files(run))

    async def _run(self, argv: list[str], env: dict[str, str], timeout: float,
                   files: dict[str, tuple[str, bytes]]) -> engine.Outcome:
        from cutman.core import engine
        from cutman.models.run import StepPhase

        res = await run_capped(argv, env=env, timeout_s=timeout, cap=self.limits.output_bytes, files=files)
        if res.start_error:
            return engine.Outcome(StepPhase.FAILED, error=res.start_error)
        if res.timed_out:
            return engine.Outcome(
                StepPhase.FAILED, output=res.stdout, stderr=res.stderr, exit_code=res.exit_code,
                error=f"timed out after {timeout / 60:g} minutes; process group killed",
            )
        if res.exit_code != 0:
            last = res.stderr.strip().splitlines()[-1:] or ["no stderr"]
            return engine.Outcome(
                StepPhase.FAILED, output=res.stdout, stderr=res.stderr, exit_code=res.exit_code,
                error=f"exit code {res.exit_code}: {last[0][:300]}",
            )
        return engine.Outcome(
            StepPhase.SUCCEEDED, output=res.stdout, stderr=res.stderr, exit_code=0,
            result=_json_object(res.stdout) if not res.stdout_cut else None,
        )
