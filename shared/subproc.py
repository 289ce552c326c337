"""Running an untrusted-input child process: clean env, own process group, capped output.

Shared by the cli step and by agent tools that run commands. The child never inherits
this process's environment (which holds the Redis URL), runs in a scratch directory,
and a timeout kills its whole process group, grandchildren included.

Scripts run under `SHELL`, dash, named explicitly rather than whatever /bin/sh is: the
shell-safety of templated commands is tested against dash's semantics (bash evaluates a
variable's value as an expression inside `$(( ))`, where `a[$(cmd)]` runs cmd).
Large data reaches the child as files (`files`: 0600, in a 0700 folder removed with the
scratch directory), never as one environment variable: Linux refuses an argument or
environment string over 128 KiB and the whole exec over ARG_MAX ("Argument list too
long"). `exec_problem` says, before exec, what would not fit.

The scratch directory is made under `CUTMAN_SCRATCH_DIR` (an absolute path; default the
system temporary folder). `cutman dev` points it at /dev/shm: on this repo's ext4 (with
`discard`) the two mkdir/rmdir pairs of a step cost 1-5 ms, a third of the e2e latency,
against 0.2 ms on tmpfs. It is not the default everywhere because a container's
/dev/shm is often 64 MB, which a step writing large files in its HOME would fill.
"""

from __future__ import annotations

import asyncio
import os
import signal
import tempfile
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

BASE_ENV = {"PATH": "/usr/local/bin:/usr/bin:/bin", "LANG": "C.UTF-8"}
KILL_GRACE_S = 2.0
DEFAULT_OUTPUT_LIMIT = 64 * 1024
SHELL = "/bin/dash"
MAX_ARG_STRLEN = 128 * 1024  # Linux: one argv or "NAME=value" string, NUL included
MAX_EXEC_BYTES = 1024 * 1024  # argv + environment together; ARG_MAX is 2 MiB with an 8 MiB stack
SCRATCH_ENV = "CUTMAN_SCRATCH_DIR"


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


def exec_problem(argv: Sequence[str], env: Mapping[str, str]) -> str | None:
    """Why exec would refuse this argv and environment (NUL byte, size), or None."""
    total = 0
    for where, text in [*((f"argument {i}", a) for i, a in enumerate(argv)),
                        *((f"environment variable {k}", f"{k}={v}") for k, v in env.items())]:
        if "\x00" in text:
            return f"{where} contains a NUL byte, which no argument or environment string can hold"
        size = len(text.encode("utf-8", "surrogateescape")) + 1
        if size > MAX_ARG_STRLEN:
            return f"{where} is {size} bytes; one string holds at most {MAX_ARG_STRLEN}"
        total += size
    if total > MAX_EXEC_BYTES:
        return f"arguments and environment are {total} bytes together; at most {MAX_EXEC_BYTES}"
    return None


def scratch_root(environ: Mapping[str, str] = os.environ) -> str | None:
    """Where step scratch directories go (`CUTMAN_SCRATCH_DIR`), None for the system default.

    Read at each spawn so a test can set it; a relative path is refused rather than
    resolved against whatever the function's working directory is.
    """
    root = environ.get(SCRATCH_ENV, "").strip()
    if not root:
        return None
    if not os.path.isabs(root):
        raise ValueError(f"{SCRATCH_ENV}={root!r}: must be an absolute path")
    return root


def _write_files(cwd: str, files: Mapping[str, tuple[str, bytes]]) -> dict[str, str]:
    if not files:
        return {}
    folder = os.path.join(cwd, ".cutman")
    os.mkdir(folder, 0o700)
    paths: dict[str, str] = {}
    for var, (name, content) in files.items():
        path = os.path.join(folder, name)
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as f:
            f.write(content)
        paths[var] = path
    return paths


async def run_capped(argv: list[str], *, env: dict[str, str], timeout_s: float, cap: int,
                     files: Mapping[str, tuple[str, bytes]] | None = None) -> ProcResult:
    """Run `argv` (no shell unless argv says so); never raises for the child's failures.

    `files` maps an environment variable to (file name, content): each is written 0600
    and the variable holds its path.
    """
    try:
        root = scratch_root()
    except ValueError as exc:
        return ProcResult(None, "", "", 0, 0, False, start_error=f"cannot start {argv[0]}: {exc}")
    with tempfile.TemporaryDirectory(prefix="cutman-step-", dir=root) as cwd:
        env = {"HOME": cwd, **env, **_write_files(cwd, files or {})}
        problem = exec_problem(argv, env)
        if problem:
            return ProcResult(None, "", "", 0, 0, False, start_error=f"cannot start {argv[0]}: {problem}")
        try:
            proc = await asyncio.create_subprocess_exec(
                *argv, cwd=cwd, env=env, start_new_session=True,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
            )
        except (OSError, ValueError) as exc:
            return ProcResult(None, "", "", 0, 0, False, start_error=f"cannot start {argv[0]}: {exc}")
        assert proc.stdout is not None and proc.stderr is not None
        readers = asyncio.gather(_read_capped(proc.stdout, cap), _read_capped(proc.stderr, cap))
        timed_out = False
        try:
            await asyncio.wait_for(_exited(proc), timeout_s)
        except TimeoutError:
            timed_out = True
        if timed_out:
            await kill_group(proc)
        else:
            _kill_leftovers(proc.pid)
            await proc.wait()
        (out, out_cut), (err, err_cut) = await readers
    return ProcResult(proc.returncode, _text(out, out_cut), _text(err, err_cut), out_cut, err_cut, timed_out)


async def _exited(proc: asyncio.subprocess.Process) -> None:
    """Returns when the child itself exits, even if its background children still hold
    its output pipes open. `proc.wait()` does not always: here (Python 3.11) it returned
    only once the pipes closed in about half the runs of `sleep 30 & echo hi`, which then
    ran until the step's timeout and was reported timed out although the shell had
    exited 0. A pidfd (Linux 5.3+) becomes readable when the process exits; without one,
    `proc.wait()` is all there is."""
    try:
        fd = os.pidfd_open(proc.pid)
    except ProcessLookupError:
        return  # already exited and reaped
    except (AttributeError, OSError):
        await proc.wait()
        return
    loop = asyncio.get_running_loop()
    gone: asyncio.Future[None] = loop.create_future()

    def readable() -> None:
        if not gone.done():
            gone.set_result(None)

    try:
        loop.add_reader(fd, readable)
        await gone
    finally:
        loop.remove_reader(fd)
        os.close(fd)


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
