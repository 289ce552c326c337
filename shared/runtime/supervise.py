"""`cutman dev`'s supervisor: every child kept alive, and every death said out loud.

Three kinds of failure, each printed on cutman dev's stderr when it happens and when it
is repaired:

- a child process (broker, a function, the pinger) exits: it is started again, with a
  growing pause (0.2 s per restart, at most 5 s) so a crash loop does not spin;
- the redis-server cutman dev started exits: it is started again on the same port with
  the same data folder, so its append-only file brings the data back and every client's
  next command reconnects (redis-py retries once on a stale connection);
- a child stops answering its liveness check (GET /health/liveness, /health for the
  broker and pinger) `failures` times in a row, `interval` seconds apart: it is killed
  and started again. CUTMAN_DEV_HEALTH_SECONDS sets the interval (default 5 s; about
  three intervals pass before a hung child is replaced). A child just (re)started is
  given STARTUP_S to answer for the first time.

Liveness, not readiness: a function is not ready while Redis is down, and restarting
every function for that would only add to the outage.
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import httpx

from .redis_server import RedisServer

DEFAULT_HEALTH_S = 5.0
FAILURES = 3
STARTUP_S = 60.0


class Supervised(Protocol):
    name: str
    port: int
    restarts: int

    def start(self, verbose: bool) -> None: ...
    def alive(self) -> bool: ...
    def returncode(self) -> int | None: ...
    def kill(self) -> None: ...
    def health_path(self) -> str: ...
    def describe_log(self) -> str: ...


def say(message: str) -> None:
    print(f"cutman dev: {message}", file=sys.stderr, flush=True)


@dataclass
class _Probe:
    """A thread that checks one child's liveness every `interval` seconds."""

    child: Supervised
    interval: float
    failures: int = 0
    answered: bool = False
    started: float = field(default_factory=time.monotonic)
    stop: threading.Event = field(default_factory=threading.Event)

    def restarted(self) -> None:
        self.failures, self.answered, self.started = 0, False, time.monotonic()

    def run(self) -> None:
        with httpx.Client(timeout=self.interval, trust_env=False) as client:
            while not self.stop.wait(self.interval):
                if not self.child.alive():
                    continue
                try:
                    ok = client.get(f"http://127.0.0.1:{self.child.port}{self.child.health_path()}").status_code == 200
                except httpx.HTTPError:
                    ok = False
                if ok:
                    self.failures, self.answered = 0, True
                elif self.answered or time.monotonic() - self.started > STARTUP_S:
                    self.failures += 1


class Supervisor:
    def __init__(self, children: Sequence[Supervised], redis: RedisServer | None, *, verbose: bool,
                 health_s: float = DEFAULT_HEALTH_S, failures: int = FAILURES) -> None:
        self.children, self.redis, self.verbose = list(children), redis, verbose
        self.health_s, self.max_failures = health_s, failures
        self.probes = {c.name: _Probe(c, health_s) for c in self.children}

    def watch(self) -> None:
        """Start the liveness probes (after the children first became ready)."""
        for probe in self.probes.values():
            probe.answered = True
            threading.Thread(target=probe.run, name=f"probe-{probe.child.name}", daemon=True).start()

    def close(self) -> None:
        for probe in self.probes.values():
            probe.stop.set()

    def tick(self) -> None:
        """One round: repair whatever died or hung since the last one."""
        if self.redis is not None and self.redis.proc.poll() is not None:
            code = self.redis.proc.returncode
            say(f"redis-server exited ({code}); restarting it on port {self.redis.port} "
                f"with its data in {self.redis.data_dir}")
            self.redis.restart()
            say(f"redis-server restarted (pid {self.redis.proc.pid}, port {self.redis.port})")
        for child in self.children:
            probe = self.probes[child.name]
            if not child.alive():
                child.restarts += 1
                say(f"{child.name} exited ({child.returncode()}); restarting (see {child.describe_log()})")
                time.sleep(min(5.0, 0.2 * child.restarts))
                self._restart(child, probe)
            elif probe.failures >= self.max_failures:
                child.restarts += 1
                say(f"{child.name} did not answer {child.health_path()} {probe.failures} times in a row "
                    f"({self.health_s:g}s apart); killing and restarting it (see {child.describe_log()})")
                child.kill()
                self._restart(child, probe)

    def _restart(self, child: Supervised, probe: _Probe) -> None:
        child.start(self.verbose)
        probe.restarted()
        say(f"{child.name} restarted (restart {child.restarts})")
