"""Start a private redis-server on a free loopback port (local mode and tests).

Neither `cutman dev` nor the tests may depend on a Redis already running on 6379:
each gets its own server, its own port, its own data folder and its own password.
"""

from __future__ import annotations

import os
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import httpx


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, *, timeout: float = 10.0, proc: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"process exited with {proc.returncode} before port {port} opened")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on 127.0.0.1:{port} after {timeout}s")


def wait_for_http(
    port: int, path: str, *, timeout: float = 30.0, proc: subprocess.Popen[bytes] | None = None
) -> None:
    """Wait until `GET http://127.0.0.1:<port><path>` answers 200 (a readiness probe)."""
    wait_for_port(port, timeout=timeout, proc=proc)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}{path}", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.05)
    raise TimeoutError(f"127.0.0.1:{port}{path} did not answer 200 within {timeout}s")


def stop_process(proc: subprocess.Popen[bytes] | subprocess.Popen[str], *, timeout: float = 5.0) -> None:
    """SIGTERM, then SIGKILL if the process has not exited within `timeout` seconds."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@dataclass
class RedisServer:
    """A redis-server child process; `url` is where it listens, password included."""

    proc: subprocess.Popen[bytes]
    port: int
    data_dir: Path
    password: str = ""
    argv: list[str] = field(default_factory=list)

    @property
    def url(self) -> str:
        auth = f":{quote(self.password, safe='')}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/0"

    def stop(self) -> None:
        stop_process(self.proc)

    def restart(self) -> None:
        """Start it again with the same command line: same port, same data (its AOF)."""
        self.proc = subprocess.Popen(self.argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, umask=0o077)
        wait_for_port(self.port, proc=self.proc)


def _password(conf: Path) -> str:
    """The password kept in the data folder's redis.conf, or a new one written there (0600).

    Kept with the data so that a restart on the same folder (cutman dev's supervision,
    the tests' restarts) serves the same clients; never on the command line, where any
    local user could read it with ps.
    """
    if conf.exists():
        for line in conf.read_text().splitlines():
            if line.startswith("requirepass "):
                return line.split(" ", 1)[1].strip().strip('"')
    password = secrets.token_urlsafe(24)
    fd = os.open(conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(f'requirepass "{password}"\n')
    return password


def start_redis(data_dir: Path, *, port: int | None = None, persist: bool = True) -> RedisServer:
    """Start redis-server; with `persist`, an append-only file keeps state across restarts.

    The server requires a password (in `url`) and runs with umask 077: its folder is
    0700 and the AOF, RDB and log files it writes are 0600.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server is not on PATH: install it (Debian: apt-get install redis-server) "
            "or point cutman at a running Redis with --redis-url / REDIS_URL"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    conf = data_dir / "redis.conf"
    password = _password(conf)
    port = port or free_port()
    args = [
        binary, str(conf), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(data_dir),
        "--save", "", "--appendonly", "yes" if persist else "no",
        "--daemonize", "no", "--protected-mode", "yes", "--logfile", str(data_dir / "redis.log"),
    ]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, umask=0o077)
    wait_for_port(port, proc=proc)
    return RedisServer(proc=proc, port=port, data_dir=data_dir, password=password, argv=args)
