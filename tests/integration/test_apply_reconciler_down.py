"""`cutman apply` against a stack whose reconciler is gone: a clear error, no traceback.

Real CLI process, real (closed) loopback port; no doubles."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from cutman.runtime.redis_server import free_port
from cutman.runtime.stack import StackInfo

REPO = Path(__file__).resolve().parents[2]


def test_apply_says_the_reconciler_did_not_answer(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"
    StackInfo(pid=os.getpid(), port=free_port(), redis_url="", broker_url=dead,
              services={"cutman-reconciler": dead}).save(tmp_path)
    env = {**os.environ, "CUTMAN_STATE_DIR": str(tmp_path)}
    out = subprocess.run([sys.executable, "-m", "cutman.cli", "apply", "-f",
                          str(REPO / "deploy/examples/sink.yaml")], env=env, capture_output=True, text=True, check=False,
                         timeout=60)
    assert out.returncode != 0
    assert "Traceback" not in out.stderr, out.stderr
    assert "did not answer" in out.stderr and "Nothing was applied" in out.stderr, out.stderr
