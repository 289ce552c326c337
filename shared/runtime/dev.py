"""`cutman dev`: the whole system on one machine, in the foreground.

Children: Redis (unless a URL is given), the dev broker, and the five functions, each a
separate HTTP server as in a cluster. Ingest serves the webhook paths on the chosen
port; every other port is picked free so two stacks run side by side. A child that dies
or hangs, and the redis-server, are restarted and each is said so (cutman.runtime.supervise);
Ctrl-C stops everything.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from ..adapters.secret_store import SECRET_KEY_CFG, new_secret_key
from ..core.namespaces import BROKER, NAMESPACE_ENV, broker_path, installation_namespace
from ..core.urls import redact_url
from ..models.manifests import Document, read_paths
from ..subproc import SCRATCH_ENV
from .loader import FUNCTIONS
from .redis_server import RedisServer, free_port, start_redis, stop_process, wait_for_http
from .stack import StackInfo, plan_changes, send_to_reconciler
from .supervise import DEFAULT_HEALTH_S, Supervisor

SHM = "/dev/shm"
SERVICE = {name: f"cutman-{name}" for name in FUNCTIONS}


@dataclass
class Child:
    name: str
    argv: list[str]
    env: dict[str, str]
    port: int
    log: Path
    proc: subprocess.Popen[bytes] | None = None
    restarts: int = 0
    _logf: IO[bytes] | None = field(default=None, repr=False)

    def start(self, verbose: bool) -> None:
        if self._logf:
            self._logf.close()
        self._logf = None if verbose else open(self.log, "ab")  # noqa: SIM115 (lives with the child)
        self.proc = subprocess.Popen(self.argv, env=self.env, stdout=None, stderr=self._logf)

    def stop(self) -> None:
        if self.proc:
            stop_process(self.proc)
        if self._logf:
            self._logf.close()

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def returncode(self) -> int | None:
        return None if self.proc is None else self.proc.returncode

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def health_path(self) -> str:
        return "/health" if self.name in ("broker", "pinger") else "/health/liveness"

    def describe_log(self) -> str:
        return str(self.log)


def _wait_ready(child: Child, path: str, timeout: float = 30.0) -> None:
    assert child.proc is not None
    try:
        wait_for_http(child.port, path, timeout=timeout, proc=child.proc)
    except (TimeoutError, RuntimeError) as exc:
        raise TimeoutError(f"{child.name} did not become ready ({exc}); see {child.log}") from None


def run(*, state: Path, port: int, redis_url: str | None, files: list[Path], verbose: bool) -> int:
    state.mkdir(parents=True, exist_ok=True)
    (state / "logs").mkdir(exist_ok=True)
    running = StackInfo.load(state)
    if running is not None:
        print(f"cutman dev is already running from {state} (pid {running.pid})", file=sys.stderr)
        return 1
    docs = read_paths(files) if files else []
    redis: RedisServer | None = None
    if not redis_url:
        redis = start_redis(state / "redis")
        redis_url = redis.url
    broker_port = free_port()
    installation = installation_namespace(os.environ)
    broker_url = f"http://127.0.0.1:{broker_port}{broker_path(installation)}"
    ports = {name: (port if name == "ingest" else free_port()) for name in FUNCTIONS}
    services = {SERVICE[n]: f"http://127.0.0.1:{p}" for n, p in ports.items()}
    base_env = {**os.environ, "REDIS_URL": redis_url, NAMESPACE_ENV: installation, "K_SINK": broker_url, "PYTHONUNBUFFERED": "1",
                "CUTMAN_APPROVAL_KEY": os.environ.get("CUTMAN_APPROVAL_KEY") or secrets.token_urlsafe(32),
                "CUTMAN_PUBLIC_URL": f"http://127.0.0.1:{port}",
                SECRET_KEY_CFG: os.environ.get(SECRET_KEY_CFG) or _secret_key(state)}
    if not os.environ.get(SCRATCH_ENV) and os.path.isdir(SHM) and os.access(SHM, os.W_OK | os.X_OK):
        base_env[SCRATCH_ENV] = SHM  # step scratch folders on tmpfs (cutman.subproc: ms per step on disk)
    metrics_ports = {name: free_port() for name in ("broker", *FUNCTIONS)}
    metrics_env = {name: {"CUTMAN_METRICS_PORT": str(p), "CUTMAN_METRICS_ADDRESS": "127.0.0.1"}
                   for name, p in metrics_ports.items()}
    children = [
        Child("broker", [sys.executable, "-m", "cutman.runtime.broker", "--port", str(broker_port),
                         "--addressables", json.dumps(services),
                         "--broker", f"{installation}/{BROKER}"],
              {**base_env, **metrics_env["broker"]}, broker_port, state / "logs" / "broker.log"),
    ] + [
        Child(name, [sys.executable, "-m", "cutman.runtime.serve", name],
              {**base_env, **metrics_env[name], "LISTEN_ADDRESS": f"127.0.0.1:{p}",
               **({"CUTMAN_RESOURCES_DIR": str(state / "resources")} if name == "reconciler" else {})}, p,
              state / "logs" / f"{name}.log")
        for name, p in ports.items()
    ]
    pinger_port = free_port()
    children.append(Child("pinger", [sys.executable, "-m", "cutman.runtime.pinger",
                                     "--ingest", f"http://127.0.0.1:{port}", "--port", str(pinger_port)],
                          dict(base_env), pinger_port, state / "logs" / "pinger.log"))
    stopping = False

    def _stop(signum: int, _frame: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    supervisor = Supervisor(children, redis, verbose=verbose,
                            health_s=float(os.environ.get("CUTMAN_DEV_HEALTH_SECONDS", str(DEFAULT_HEALTH_S))))
    try:
        for child in children:
            child.start(verbose)
        for child in children:
            _wait_ready(child, "/health" if child.name in ("broker", "pinger") else "/health/readiness")
        info = StackInfo(pid=os.getpid(), port=port, redis_url=redis_url, broker_url=broker_url,
                         services=services,
                         metrics={n: f"http://127.0.0.1:{p}/metrics" for n, p in metrics_ports.items()})
        info.save(state)
        failed = _apply(info, docs, base_env[SECRET_KEY_CFG])
        _banner(info, state, docs)
        if failed:
            print(f"{failed} document(s) were refused; fix them and run `cutman apply -f`", file=sys.stderr)
        supervisor.watch()
        while not stopping:
            supervisor.tick()
            time.sleep(0.2)
    finally:
        supervisor.close()
        for child in reversed(children):
            child.stop()
        if redis:
            redis.stop()
        (state / "dev.json").unlink(missing_ok=True)
    return 0


def _secret_key(state: Path) -> str:
    """The key sealing local Secrets in Redis, kept beside (not in) the Redis data, 0600."""
    path = state / "secret.key"
    if path.exists():
        return path.read_text().strip()
    key = new_secret_key()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as f:
        f.write(key + "\n")
    return key


def _apply(info: StackInfo, docs: list, secret_key: str) -> int:  # type: ignore[type-arg]
    """Apply the -f documents, then say which CRs are not Ready and why."""
    failed = 0
    not_ready: dict[str, str] = {}
    changes = asyncio.run(plan_changes(info.redis_url, docs, secret_key=secret_key))
    for doc, planned in zip(docs, changes):
        if planned.verb == "unchanged":
            continue
        status, body = send_to_reconciler(info, Document(doc.where, planned.body))
        if status != 200:
            failed += 1
            print(f"{doc.where}: refused: {body.get('message', body)}", file=sys.stderr, flush=True)
            continue
        ns = (doc.body.get("metadata") or {}).get("namespace", "default")
        # each answer is the whole namespace's state: it replaces what earlier ones said
        not_ready = {k: v for k, v in not_ready.items() if not k.split(" ", 1)[-1].startswith(f"{ns}/")}
        not_ready.update(body.get("notReady") or {})
    for what, why in sorted(not_ready.items()):
        print(f"{what} not Ready: {why}", file=sys.stderr, flush=True)
    return failed


def _self_command() -> str:
    """How the user invoked cutman, so the hint can be pasted as is (.venv/bin/cutman)."""
    argv0 = Path(sys.argv[0])
    if argv0.name == "cutman":
        try:
            return str(argv0.resolve().relative_to(Path.cwd()))
        except ValueError:
            return str(argv0)
    return "cutman"


def _banner(info: StackInfo, state: Path, docs: list) -> None:  # type: ignore[type-arg]
    paths = [d.body["spec"]["config"]["path"] for d in docs
             if d.kind == "Source" and d.body.get("spec", {}).get("config", {}).get("path")]
    base = f"http://127.0.0.1:{info.port}"
    lines = [
        f"cutman dev is up (state in {state}, logs in {state / 'logs'})",
        f"  webhooks: {base}/<Source spec.config.path>" + (f", e.g. {base}{paths[0]}" if paths else ""),
        f"  redis:    {redact_url(info.redis_url, mask='***')} (URL with password in {state / 'dev.json'})",
        f"  web page: {base}/ui   API: {base}/api/v1   metrics: {base}/metrics (each function's: dev.json)",
    ]
    if paths:
        lines.append("  fire an alert:")
        lines.append(f"    curl -sS -H 'content-type: application/json' "
                     f"--data @deploy/examples/alert.json {base}{paths[0]}")
    lines.append(f"  then: {_self_command()} runs list   (in another terminal; Ctrl-C stops cutman dev)")
    print("\n".join(lines), flush=True)
