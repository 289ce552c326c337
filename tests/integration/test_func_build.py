"""`func build` from each function folder, the way func's Python builders do it: the
folder alone is the build context, a clean virtualenv installs the folder's own
pyproject.toml (with func.yaml's build envs, i.e. pip finding the cutman wheel that
`make func-context` puts in ./wheels), then `from function import new`, and the function
is served by func-python (as the scaffolding's main does) and answers one real request.

Real components only: pip, a fresh venv, func-python's own ASGI servers, a real Redis.
No image is built (no container daemon here); the Containerfile's own install commands
are the same `pip install` of the repository.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import httpx
import pytest
import yaml
from cutman.runtime.redis_server import free_port, stop_process, wait_for_http

REPO = Path(__file__).resolve().parents[2]
FUNCTIONS = ["ingest", "step-cli", "step-agent", "sink", "reconciler"]
MAIN = """
import sys
from function import new
if sys.argv[1] == "cloudevent":
    from func_python.cloudevent import serve
else:
    from func_python.http import serve
serve(new)
"""
SINK = {"apiVersion": "cutman.dev/v1alpha1", "kind": "Sink", "metadata": {"name": "console", "namespace": "team"},
        "spec": {"type": "stdout"}}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "-w", str(out), str(REPO)],
                   check=True, timeout=300)
    (built,) = out.glob("cutman-*.whl")
    return built


def build_context(name: str, wheel: Path, root: Path) -> tuple[Path, dict[str, str]]:
    """The folder as func sees it, plus the wheel `make func-context` adds; func.yaml's buildEnvs."""
    ctx = root / name
    shutil.copytree(REPO / "functions" / name, ctx, ignore=shutil.ignore_patterns("wheels", "__pycache__"))
    (ctx / "wheels").mkdir()
    shutil.copy(wheel, ctx / "wheels")
    meta = yaml.safe_load((ctx / "func.yaml").read_text())
    return ctx, {e["name"]: e["value"] for e in meta["build"].get("buildEnvs", [])}


def one_request(name: str, port: int) -> httpx.Response:
    base = f"http://127.0.0.1:{port}"
    if name == "ingest":
        return httpx.get(f"{base}/metrics", timeout=10)
    headers = {"ce-specversion": "1.0", "ce-id": "e1", "ce-source": "/test", "content-type": "application/json"}
    if name == "reconciler":
        headers["ce-type"] = "dev.knative.apiserver.resource.add"
        return httpx.post(base + "/", headers=headers, content=json.dumps(SINK), timeout=30)
    headers |= {"ce-type": "dev.cutman.step.requested", "ce-workflow": "team/wf", "ce-run": "nope", "ce-step": "a"}
    return httpx.post(base + "/step", headers=headers, content=b'{"run": "nope"}', timeout=30)


@pytest.mark.timeout(600)
@pytest.mark.parametrize("name", FUNCTIONS)
def test_func_build_from_the_folder(name: str, wheel: Path, tmp_path: Path, redis_url: str) -> None:
    ctx, build_envs = build_context(name, wheel, tmp_path)
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True, clear=True).create(env_dir)
    py = str(env_dir / "bin" / "python")
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "PYTHON", "VIRTUAL_ENV"))}
    pip = subprocess.run([py, "-m", "pip", "install", "-q", "."], cwd=ctx, env={**clean, **build_envs},
                         capture_output=True, text=True, timeout=500, check=False)
    assert pip.returncode == 0, pip.stderr[-3000:]
    elsewhere = tmp_path / "run"
    elsewhere.mkdir()
    probe = subprocess.run([py, "-c", "from function import new; print(type(new()).__name__)"], cwd=elsewhere,
                           env=clean, capture_output=True, text=True, timeout=60, check=False)
    assert probe.returncode == 0, probe.stderr[-3000:]
    (elsewhere / "main.py").write_text(MAIN)
    port = free_port()
    invoke = yaml.safe_load((ctx / "func.yaml").read_text())["invoke"]
    proc = subprocess.Popen([py, "main.py", invoke], cwd=elsewhere, stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                            env={**clean, "LISTEN_ADDRESS": f"127.0.0.1:{port}", "REDIS_URL": redis_url,
                                 "K_SINK": "http://127.0.0.1:9/cutman/default"})
    try:
        wait_for_http(port, "/health/readiness", timeout=60, proc=proc)
        resp = one_request(name, port)
    finally:
        stop_process(proc)
    if name == "ingest":
        assert resp.status_code == 200 and "cutman_ingest" in resp.text
    elif name == "reconciler":
        assert resp.status_code == 200, resp.text
        assert resp.json()["result"] == "Sink team/console configured"
    else:
        assert resp.status_code in (400, 404, 422), resp.text
        body = resp.json()
        assert body["error"] in ("bad_request", "not_found", "invalid") and body["message"], resp.text
