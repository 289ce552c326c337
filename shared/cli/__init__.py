"""The `cutman` command: run the local stack, apply resources, look at what runs, test workflows.

One module per command group; each has `register(subparsers)` and sets `func` on its
parsers. Errors of the project's hierarchy print `error: <message>` and exit 1, as
kubectl does; a usage error exits 2 (argparse).
"""

from __future__ import annotations

import argparse
import os
import sys
from importlib import metadata

import argcomplete

from ..errors import CutmanError
from ..models.manifests import ManifestError
from . import apply, approve, completion, describe, devcmd, get, runs, send_alert, testcmd

GROUPS = (devcmd, apply, get, describe, runs, approve, send_alert, testcmd, completion)


def version() -> str:
    try:
        return metadata.version("cutman")
    except metadata.PackageNotFoundError:
        return "unknown"


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="cutman", description="Alertmanager alerts to automated investigations and remediations.",
        epilog="Run `cutman COMMAND -h` for a command's flags.")
    p.add_argument("--version", action="version", version=f"cutman {version()}", help="print the version and exit")
    p.add_argument("--state-dir", help="state folder of the local cutman dev (default .cutman or $CUTMAN_STATE_DIR)")
    p.add_argument("--server", help="URL of an installation's HTTP API (default: $CUTMAN_SERVER, the context, "
                                    "else the local cutman dev)")
    p.add_argument("--token", help="bearer token for --server (default: $CUTMAN_TOKEN)")
    p.add_argument("--context", help="context of the cutman config file ($CUTMAN_CONFIG, ~/.config/cutman/config)")
    sub = p.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for group in GROUPS:
        group.register(sub)
    return p


def main(argv: list[str] | None = None) -> int:
    p = parser()
    argcomplete.autocomplete(p)
    args, extra = p.parse_known_args(argv)
    if extra and getattr(args, "accepts_extra_labels", False) and all("=" in a and not a.startswith("-") for a in extra):
        args.labels = [*args.labels, *extra]  # `send-alert SRC -n ns alertname=X`: labels after flags
    elif extra:
        p.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args))
    except ManifestError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
    except CutmanError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:
        # `cutman get runs | head`: the reader left; say nothing more, like kubectl.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141
    return 1
