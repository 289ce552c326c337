"""Functions refuse to start with a placeholder approval key or a missing Redis password.

Real processes: each function is served by func-python exactly as in its container
(`python -m cutman.runtime.serve NAME`, environment as Knative gives it, `K_SERVICE` set)
against a real password-protected redis-server; no doubles.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from cutman.runtime.redis_server import free_port, stop_process, wait_for_http

REPO = Path(__file__).resolve().parents[2]
PLACEHOLDER = "replace-with-32-random-bytes-base64"


@pytest.fixture(scope="module")
def protected_redis(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[int, str]]:
    password = secrets.token_urlsafe(24)
    port = free_port()
    proc = subprocess.Popen(["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--requirepass", password, "--dir", str(tmp_path_factory.mktemp("r"))],
                            stdout=subprocess.DEVNULL)
    yield port, password
    stop_process(proc)


def _env(port: int, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CUTMAN_", "REDIS_"))}
    return {**env, "K_SERVICE": "cutman-ingest", "REDIS_URL": f"redis://127.0.0.1:{port}/0",
            "LISTEN_ADDRESS": f"127.0.0.1:{free_port()}", **extra}


@pytest.mark.parametrize("name", ["ingest", "step-cli", "step-agent"])
def test_placeholder_approval_key_refused(protected_redis: tuple[int, str], name: str) -> None:
    port, password = protected_redis
    env = _env(port, CUTMAN_APPROVAL_KEY=PLACEHOLDER, REDIS_PASSWORD=password)
    done = subprocess.run([sys.executable, "-m", "cutman.runtime.serve", name], env=env, cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 3, done.stderr[-2000:]
    assert "CUTMAN_APPROVAL_KEY is a known placeholder value" in done.stderr
    assert PLACEHOLDER not in done.stderr, "the refused value itself is never logged"


def test_missing_redis_password_refused_and_a_good_setup_serves(protected_redis: tuple[int, str]) -> None:
    port, password = protected_redis
    key = secrets.token_urlsafe(32)
    done = subprocess.run([sys.executable, "-m", "cutman.runtime.serve", "sink"], env=_env(port), cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 3 and "REDIS_PASSWORD is not set" in done.stderr, done.stderr[-2000:]
    env = _env(port, CUTMAN_APPROVAL_KEY=key, REDIS_PASSWORD=password)
    listen = int(env["LISTEN_ADDRESS"].rsplit(":", 1)[1])
    proc = subprocess.Popen([sys.executable, "-m", "cutman.runtime.serve", "ingest"], env=env, cwd=REPO,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        wait_for_http(listen, "/health/readiness", timeout=30, proc=proc)
    finally:
        stop_process(proc)
