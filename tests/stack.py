"""Test harness for the whole local stack: `cutman dev` as a subprocess on free ports."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from cutman.runtime.redis_server import free_port

from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[1]


@dataclass
class Stack:
    proc: subprocess.Popen[str]
    port: int
    state: Path
    lines: list[str] = field(default_factory=list)
    pump: threading.Thread | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def cli(self, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        env = {**os.environ, "CUTMAN_STATE_DIR": str(self.state)}
        done = subprocess.run([sys.executable, "-m", "cutman.cli", *args], env=env, cwd=REPO,
                              capture_output=True, text=True, timeout=60, check=False)
        if check and done.returncode != 0:
            raise AssertionError(f"cutman {' '.join(args)} failed: {done.stderr}")
        return done

    def json(self, *args: str) -> Any:
        return json.loads(self.cli(*args, "-o", "json").stdout)

    def post(self, path: str, payload: dict[str, Any]) -> httpx.Response:
        return httpx.post(self.base + path, json=payload, timeout=30)

    def child_pid(self, name: str) -> int:
        """The pid of one child of `cutman dev` (a function, `broker`, `pinger`, `redis`)."""
        want = {"broker": "cutman.runtime.broker", "pinger": "cutman.runtime.pinger",
                "redis": "redis-server"}.get(name)
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                stat = (proc / "stat").read_text()
                argv = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            words = [a.decode(errors="replace") for a in argv if a]
            if ppid != self.proc.pid:
                continue
            if want is not None and any(want in w for w in words):
                return int(proc.name)
            if want is None and "cutman.runtime.serve" in words and words[-1] == name:
                return int(proc.name)
        raise AssertionError(f"no running child {name} of cutman dev")

    def wait_for(self, probe: Callable[[], Any], *, timeout: float = 30.0, what: str = "condition") -> Any:
        return wait_for(probe, timeout=timeout, what=what, interval=0.1,
                        detail=lambda: "; cutman dev said:\n" + "".join(self.lines[-40:]))


def start_stack(tmp: Path, *files: str, env: dict[str, str] | None = None) -> Stack:
    port = free_port()
    state = tmp / "state"
    argv = [sys.executable, "-m", "cutman.cli", "--state-dir", str(state), "dev", "--port", str(port)]
    for f in files:
        argv += ["-f", f]
    proc = subprocess.Popen(argv, cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})})
    stack = Stack(proc, port, state)
    up = threading.Event()

    def pump() -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            stack.lines.append(line)
            if line.startswith("cutman dev is up"):
                up.set()

    stack.pump = threading.Thread(target=pump, daemon=True)
    stack.pump.start()
    deadline = time.monotonic() + 60
    while not up.wait(0.1):
        if proc.poll() is not None or time.monotonic() > deadline:
            stop_stack(stack)
            raise AssertionError("cutman dev did not come up:\n" + "".join(stack.lines))
    return stack


def stop_stack(stack: Stack) -> None:
    if stack.proc.poll() is None:
        stack.proc.send_signal(signal.SIGINT)
        try:
            stack.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            stack.proc.kill()
            stack.proc.wait()
    if stack.pump is not None:
        stack.pump.join(timeout=10)
    if stack.proc.stdout:
        stack.proc.stdout.close()

