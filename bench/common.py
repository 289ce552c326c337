"""What every benchmark scenario shares: the stack, the floor, wrk, /proc and Redis figures.

Load comes from a separate process (`wrk`, Debian's, 1 thread) so the bench's own
Python never competes with the process it measures inside one interpreter. Figures
that do not depend on what else the machine runs are taken beside the timings: CPU
seconds of the ingest process from /proc/<pid>/stat, and Redis commands per alert from
MONITOR, attributed to the process that owns each client socket (/proc/net/tcp).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import httpx
import yaml
from cutman.runtime.redis_server import free_port, wait_for_http

REPO = Path(__file__).resolve().parents[1]
BENCH = REPO / "bench"
CLK_TCK = os.sysconf("SC_CLK_TCK")

# A no-op func-python function: the same runtime and server as cutman's functions, no work.
# It counts the requests it answered (GET /count) so it can stand in as a subscriber.
FLOOR = """
from func_python.http import serve
COUNT = [0]
class F:
    async def handle(self, scope, receive, send):
        more = True
        while more:
            more = (await receive()).get("more_body", False)
        body = b""
        if scope["method"] == "GET" and scope["path"] == "/count":
            body = str(COUNT[0]).encode()
        else:
            COUNT[0] += 1
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": body})
def new():
    return F()
serve(new)
"""


def pct(values: list[float], p: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """utime + stime of one process so far."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def children_of(root: int) -> dict[int, str]:
    """pid -> command line of the direct children of `root`."""
    out: dict[int, str] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            if int(stat[1]) == root:
                out[int(entry.name)] = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
        except OSError:
            continue
    return out


def spawn_floor(port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-c", FLOOR], env={**os.environ, "LISTEN_ADDRESS": f"127.0.0.1:{port}"},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    wait_for_http(port, "/health/readiness", timeout=30, proc=proc)
    return proc


def stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


PROFILE_DIR: Path | None = None  # set by `--profile DIR`: py-spy records the measured process


@contextmanager
def profiled(pid: int, name: str) -> Iterator[None]:
    """py-spy (from PyPI) samples `pid` while the block runs, into PROFILE_DIR/<name>.txt
    (collapsed stacks, flamegraph input); `bench/profile_top.py` summarises one."""
    if PROFILE_DIR is None:
        yield
        return
    PROFILE_DIR.mkdir(parents=True, exist_ok=True)
    spy = subprocess.Popen([str(Path(sys.executable).parent / "py-spy"), "record", "--format", "raw", "--rate", "200",
                            "--nonblocking", "-p", str(pid), "-o", str(PROFILE_DIR / f"{name}.txt")],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        yield
    finally:
        spy.send_signal(signal.SIGINT)
        spy.wait(timeout=30)


# -- the local stack -------------------------------------------------------------------


def cr(kind: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    return {"apiVersion": "cutman.dev/v1alpha1", "kind": kind,
            "metadata": {"name": name, "namespace": "default"}, "spec": spec}


INGEST_PATH = "/webhook/bench"
E2E_PATH = "/webhook/e2e"
E2E_WORKFLOW = "default/e2e"
E2E_SOURCE = "default/e2e-src"
MANIFESTS = [
    # The ingest scenarios: events reach the broker, which no Trigger routes further, so
    # the figures are the front door's; run execution is what the e2e scenario measures.
    cr("Source", "bench", {"type": "webhook", "config": {"path": INGEST_PATH}}),
    cr("Workflow", "e2e", {"steps": [{"name": "one", "type": "cli", "command": "true"},
                                     {"name": "two", "type": "cli", "command": "true"}]}),
    cr("Source", "e2e-src", {"type": "webhook", "config": {"path": E2E_PATH}, "triggerWorkflow": "e2e"}),
]


@dataclass
class Stack:
    proc: subprocess.Popen[str]
    port: int
    state: Path
    redis_url: str
    pids: dict[str, int] = field(default_factory=dict)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@contextmanager
def local_stack(env: dict[str, str] | None = None) -> Iterator[Stack]:
    """`cutman dev` with the bench's Source and Workflow, on free ports, in a temp folder."""
    with tempfile.TemporaryDirectory(prefix="cutman-bench-") as tmp:
        folder = Path(tmp) / "manifests"
        folder.mkdir()
        (folder / "bench.yaml").write_text(yaml.safe_dump_all(MANIFESTS))
        port = free_port()
        state = Path(tmp) / "state"
        proc = subprocess.Popen(
            [sys.executable, "-m", "cutman.cli", "--state-dir", str(state), "dev", "--port", str(port),
             "-f", str(folder)],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, cwd=REPO,
            env={**os.environ, "PYTHONUNBUFFERED": "1", **(env or {})},
        )
        assert proc.stdout is not None
        lines: list[str] = []
        for line in proc.stdout:
            lines.append(line)
            if line.startswith("cutman dev is up"):
                break
        else:
            raise RuntimeError("cutman dev did not start:\n" + "".join(lines[-30:]))
        threading.Thread(target=lambda: [None for _ in proc.stdout or []], daemon=True).start()
        info = json.loads((state / "dev.json").read_text())
        stack = Stack(proc, port, state, info["redis_url"])
        for pid, cmd in children_of(proc.pid).items():
            name = cmd.split()[-1] if "cutman.runtime.serve" in cmd else (
                "broker" if "runtime.broker" in cmd else "pinger" if "runtime.pinger" in cmd else
                "redis" if "redis-server" in cmd else cmd)
            stack.pids[name] = pid
        try:
            yield stack
        finally:
            stop(proc)


# -- wrk --------------------------------------------------------------------------------

WRK_LUA = BENCH / "wrk_alerts.lua"
_WRK_SUMMARY = re.compile(r"^BENCH (\{.*\})$", re.MULTILINE)


@dataclass(frozen=True)
class WrkResult:
    requests: int
    duration_s: float
    non_2xx: int
    socket_errors: int
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.duration_s if self.duration_s else 0.0

    @property
    def ok_rps(self) -> float:
        return (self.requests - self.non_2xx) / self.duration_s if self.duration_s else 0.0


def wrk(url: str, *, connections: int, seconds: float, alerts: int, mode: str, tag: str) -> WrkResult:
    """wrk with the bench's Lua script: `mode` new (unique labels per request) or dup (one body)."""
    env = {**os.environ, "BENCH_ALERTS": str(alerts), "BENCH_MODE": mode, "BENCH_TAG": tag}
    argv = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, round(seconds))}s", "--timeout", "30s",
            "-s", str(WRK_LUA), url]
    done = subprocess.run(argv, capture_output=True, text=True, env=env, check=False)
    m = _WRK_SUMMARY.search(done.stdout)
    if done.returncode != 0 or m is None:
        raise RuntimeError(f"wrk failed ({done.returncode}): {done.stdout}\n{done.stderr}")
    s = json.loads(m.group(1))
    return WrkResult(requests=s["requests"], duration_s=s["duration_us"] / 1e6, non_2xx=s["status"],
                     socket_errors=s["connect"] + s["read"] + s["write"] + s["timeout"],
                     p50_ms=s["p50_us"] / 1000, p99_ms=s["p99_us"] / 1000)


# -- Redis commands per process ---------------------------------------------------------


def _socket_ports(pid: int) -> set[int]:
    inodes = set()
    try:
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:["):
                inodes.add(target[8:-1])
    except OSError:
        return set()
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            rows = Path(table).read_text().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            cols = row.split()
            if cols[9] in inodes:
                ports.add(int(cols[1].rsplit(":", 1)[1], 16))
    return ports


class RedisMonitor:
    """Counts the top-level commands each process sends to Redis while it is open.

    MONITOR prints every command with the client's address; the address's port is mapped
    to the process holding that socket. Commands run inside Lua scripts are not counted
    (they are part of the one EVALSHA that carries them).
    """

    def __init__(self, redis_url: str, pids: dict[str, int]) -> None:
        host, port = redis_url.split("//", 1)[1].split("/", 1)[0].rsplit(":", 1)
        if "@" in host:
            host = host.split("@", 1)[1]
        self.password = None
        m = re.match(r"redis://(?:[^:@/]*:([^@/]*)@)?", redis_url)
        if m and m.group(1):
            self.password = m.group(1)
        self.addr = (host, int(port))
        self.pids = pids
        self.counts: Counter[tuple[str, str]] = Counter()
        self._stop = threading.Event()
        self._sock: socket.socket | None = None
        self._thread: threading.Thread | None = None
        self._lines: list[bytes] = []

    def __enter__(self) -> Self:
        self._sock = socket.create_connection(self.addr)
        if self.password:
            self._sock.sendall(f"AUTH {self.password}\r\n".encode())
            self._sock.recv(100)
        self._sock.sendall(b"MONITOR\r\n")
        self._sock.recv(100)
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()
        return self

    def _read(self) -> None:
        assert self._sock is not None
        self._sock.settimeout(0.2)
        while not self._stop.is_set():
            try:
                data = self._sock.recv(1 << 20)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            self._lines.append(data)

    def __exit__(self, *exc: object) -> None:
        time.sleep(0.3)
        self._stop.set()
        assert self._thread is not None and self._sock is not None
        self._thread.join(timeout=5)
        self._sock.close()
        owner = {p: name for name, pid in self.pids.items() for p in _socket_ports(pid)}
        line_re = re.compile(rb'^\+\d+\.\d+ \[\d+ ([^\]]+)\] "([^"]+)"')
        for line in b"".join(self._lines).split(b"\r\n"):
            m = line_re.match(line)
            if not m or m.group(1) == b"lua":
                continue
            client = m.group(1).decode()
            port = int(client.rsplit(":", 1)[1]) if ":" in client else -1
            self.counts[(owner.get(port, "other"), m.group(2).decode().lower())] += 1

    def per_process(self) -> dict[str, int]:
        out: Counter[str] = Counter()
        for (proc, _), n in self.counts.items():
            out[proc] += n
        return dict(out)

    def commands_of(self, proc: str) -> dict[str, int]:
        return {cmd: n for (p, cmd), n in sorted(self.counts.items()) if p == proc}


def alert(i: int | str, *, status: str = "firing", pod: str | None = None) -> dict[str, Any]:
    return {"status": status, "labels": {"alertname": "BenchAlert", "severity": "warning",
                                         "pod": pod or f"bench-{i}", "namespace": "bench"},
            "annotations": {"summary": "bench"}, "startsAt": "2026-01-01T00:00:00Z",
            "endsAt": "0001-01-01T00:00:00Z", "generatorURL": "http://prom/graph", "fingerprint": "0123456789abcdef"}


def webhook(*alerts: dict[str, Any]) -> dict[str, Any]:
    return {"version": "4", "groupKey": '{}:{alertname="BenchAlert"}', "truncatedAlerts": 0, "status": "firing",
            "receiver": "cutman", "groupLabels": {"alertname": "BenchAlert"}, "commonLabels": {},
            "commonAnnotations": {}, "externalURL": "http://am.example:9093", "alerts": list(alerts)}


def post_json(client: httpx.Client, url: str, doc: dict[str, Any]) -> httpx.Response:
    return client.post(url, content=json.dumps(doc), headers={"content-type": "application/json"})
