"""Serve one function folder with func-python, as the Knative scaffolding would.

    LISTEN_ADDRESS=127.0.0.1:8081 python -m cutman.runtime.serve step-cli

The invoke mode in func.yaml picks the middleware: `http` or `cloudevent`. Logging is
set up as JSON before func-python is imported, so its start-up lines are JSON too.
"""

from __future__ import annotations

import logging
import sys

import hypercorn.config

from .. import log
from .loader import FUNCTIONS, invoke_mode, load


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or args[0] not in FUNCTIONS:
        print(f"usage: python -m cutman.runtime.serve {{{','.join(FUNCTIONS)}}}", file=sys.stderr)
        return 2
    name = args[0]
    log.setup(name)
    # hypercorn's default errorlog is a plain-text stderr handler; ours keeps lines JSON
    hypercorn.config.Config.errorlog = logging.getLogger("hypercorn.error")
    module = load(name)
    if invoke_mode(name) == "cloudevent":
        from func_python.cloudevent import serve
    else:
        from func_python.http import serve
    serve(module.new)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
