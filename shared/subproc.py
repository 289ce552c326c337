"""Running an untrusted-input child process: clean env, own process group, capped output.

Shared by the cli step and by agent tools that run commands. The child never inherits
this process's environment (which holds the Redis URL), runs in a scratch directory,
and a timeout kills its whole process group, grandchildren included.
"""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from dataclasses import dataclass

BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
KILL_GRACE_S = 2.0
DEFAULT_OUTPUT_LIMIT = 64 * 1024


@dataclass(frozen=True)
class ProcResult:
    exit_code: int | None
    stdout: str
    stderr: str
    stdout_cut: int
    stderr_cut: int
    timed_out: bool
    start_error: str | None = None


def cut_marker(dropped: int) -> str:
    return f"\n[... {dropped} more bytes cut by cutman]"


async def _read_capped(stream: asyncio.StreamReader, cap: int) -> tuple[bytes, int]:
    kept, dropped = bytearray(), 0
    while chunk := await stream.read(65536):
        room = cap - len(kept)
        kept += chunk[:room] if room > 0 else b""
        dropped += max(0, len(chunk) - max(room, 0))
    return bytes(kept), dropped


def _text(data: bytes, dropped: int) -> str:
    text = data.decode("utf-8", errors="replace")
    return text + (cut_marker(dropped) if dropped else "")


async def run_capped(argv: list[str], *, env: dict[str, str], timeout_s: float, cap: int) -> ProcResult:
    """Run `argv` (no shell unless argv says so); never raises for the child's failures."""
    with tempfile.TemporaryDirectory(prefix="cutman-step-") as cwd:
        env = {"HOME": cwd, **env}
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, env=env, start_new_session=True,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
        except OSError as exc:
            return ProcResult(None, "", "", 0, 0, False, start_error=f"cannot start {argv[0]}: {exc}")
        assert proc.stdout is not None and proc.stderr is not None
        readers = asyncio.gather(_read_capped(proc.stdout, cap), _read_capped(proc.stderr, cap))
        timed_out = False
        try:
            await asyncio.wait_for(proc.wait(), timeout_s)
        except TimeoutError:
            timed_out = True
        if timed_out:
            await kill_group(proc)
        else:
            _kill_leftovers(proc.pid)
        (out, out_cut), (err, err_cut) = await readers
    return ProcResult(proc.returncode, _text(out, out_cut), _text(err, err_cut), out_cut, err_cut, timed_out)


def _kill_leftovers(pgid: int) -> None:
    """A child that exited may leave background members holding the pipes open."""
    try:
        os.killpg(pgid, signal.SIGKILL)
    except (ProcessLookupError, PermissionError):
        pass


async def kill_group(proc: asyncio.subprocess.Process) -> None:
    for sig, wait in ((signal.SIGTERM, KILL_GRACE_S), (signal.SIGKILL, None)):
        try:
            os.killpg(proc.pid, sig)
        except ProcessLookupError:
            return
        try:
            await asyncio.wait_for(proc.wait(), wait)
            if sig is signal.SIGTERM:
                _kill_leftovers(proc.pid)
            return
        except TimeoutError:
            continue
