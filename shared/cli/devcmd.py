"""`cutman dev`: the whole system on one machine (cutman.runtime.dev)."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

from ..runtime import dev
from ..runtime.stack import state_dir


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    d = sub.add_parser("dev", help="run the whole system locally, in the foreground (Ctrl-C stops it)")
    d.add_argument("--port", type=int, default=int(os.environ.get("CUTMAN_PORT", "8080")),
                   help="port of ingest, where webhooks arrive (default 8080 or $CUTMAN_PORT)")
    d.add_argument("--redis-url", default=os.environ.get("REDIS_URL"),
                   help="use this Redis (default: start a private redis-server in the state folder)")
    d.add_argument("-f", "--filename", action="append", default=[], help="file or folder to apply at start")
    d.add_argument("-v", "--verbose", action="store_true", help="show every component's JSON log")
    d.add_argument("--state-dir", default=argparse.SUPPRESS,
                   help="state folder (default .cutman or $CUTMAN_STATE_DIR)")
    d.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    return dev.run(state=state_dir(getattr(args, "state_dir", None)), port=args.port, redis_url=args.redis_url,
                   files=[Path(f) for f in args.filename], verbose=args.verbose)
