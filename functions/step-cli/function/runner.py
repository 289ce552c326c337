"""Running a cli step: a shell script (or an argv list) with untrusted values only in env.

Template expressions inside `command` become quoted references to environment
variables (cutman.core.shellsafe), so an alert label like `$(rm -rf /)` is data, never
code. The child gets a clean environment (not this function's, which holds the Redis
URL), its own process group (a timeout kills the whole tree) and capped output.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import tempfile
from dataclasses import dataclass
from typing import Any

from cutman.core import engine
from cutman.core.context import build_context
from cutman.core.shellsafe import command_env, compile_command
from cutman.core.templating import TemplateError, render
from cutman.models.resources import Step, StepType
from cutman.models.run import Run, StepPhase
from cutman.stephost import DEFAULT_STEP_TIMEOUT_MIN

BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
KILL_GRACE_S = 2.0


@dataclass(frozen=True)
class Limits:
    output_bytes: int = 64 * 1024


async def _read_capped(stream: asyncio.StreamReader, cap: int) -> tuple[bytes, int]:
    kept, dropped = bytearray(), 0
    while chunk := await stream.read(65536):
        room = cap - len(kept)
        kept += chunk[:room] if room > 0 else b""
        dropped += max(0, len(chunk) - max(room, 0))
    return bytes(kept), dropped


def _text(data: bytes, dropped: int) -> str:
    text = data.decode("utf-8", errors="replace")
    return text + (f"\n[... {dropped} more bytes cut by cutman]" if dropped else "")


def _json_object(stdout: str) -> dict[str, Any] | None:
    try:
        value = json.loads(stdout)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def step_env(run: Run, step: Step, extra: dict[str, str]) -> dict[str, str]:
    env = {**BASE_ENV, **run.environment, **extra}
    env.update(
        CUTMAN_RUN_ID=run.id,
        CUTMAN_WORKFLOW=run.workflow,
        CUTMAN_STEP=step.name,
        CUTMAN_ALERT=json.dumps(run.alert or {}),
    )
    return env


class CliExecutor:
    step_type = StepType.CLI

    def __init__(self, limits: Limits | None = None) -> None:
        self.limits = limits or Limits()

    async def execute(self, *, run: Run, step: Step) -> engine.Outcome:
        context = build_context(run)
        try:
            if step.args:
                argv = [render(a, context) for a in step.args]
                extra: dict[str, str] = {}
            else:
                compiled = compile_command(step.command or "")
                argv = ["/bin/sh", "-c", compiled.script]
                extra = command_env(compiled, context)
        except TemplateError as exc:
            return engine.Outcome(StepPhase.FAILED, error=f"template: {exc.message}")
        timeout = (step.timeout_minutes or DEFAULT_STEP_TIMEOUT_MIN) * 60
        return await self._run(argv, step_env(run, step, extra), timeout)

    async def _run(self, argv: list[str], env: dict[str, str], timeout: float) -> engine.Outcome:
        with tempfile.TemporaryDirectory(prefix="cutman-step-") as cwd:
            env = {"HOME": cwd, **env}
            try:
                proc = await asyncio.create_subprocess_exec(
                    *argv, cwd=cwd, env=env, start_new_session=True,
                    stdin=asyncio.subprocess.DEVNULL,
                    stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
                )
            except OSError as exc:
                return engine.Outcome(StepPhase.FAILED, error=f"cannot start {argv[0]}: {exc}")
            assert proc.stdout is not None and proc.stderr is not None
            cap = self.limits.output_bytes
            readers = asyncio.gather(_read_capped(proc.stdout, cap), _read_capped(proc.stderr, cap))
            timed_out = False
            try:
                await asyncio.wait_for(proc.wait(), timeout)
            except TimeoutError:
                timed_out = True
                await _kill_group(proc)
            (out, out_cut), (err, err_cut) = await readers
        stdout, stderr = _text(out, out_cut), _text(err, err_cut)
        if timed_out:
            return engine.Outcome(
                StepPhase.FAILED, output=stdout, stderr=stderr, exit_code=proc.returncode,
                error=f"timed out after {timeout / 60:g} minutes; process group killed",
            )
        if proc.returncode != 0:
            last = stderr.strip().splitlines()[-1:] or ["no stderr"]
            return engine.Outcome(
                StepPhase.FAILED, output=stdout, stderr=stderr, exit_code=proc.returncode,
                error=f"exit code {proc.returncode}: {last[0][:300]}",
            )
        return engine.Outcome(
            StepPhase.SUCCEEDED, output=stdout, stderr=stderr, exit_code=0,
            result=_json_object(stdout) if not out_cut else None,
        )


async def _kill_group(proc: asyncio.subprocess.Process) -> None:
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(proc.wait(), wait)
            return
        except TimeoutError:
            continue
