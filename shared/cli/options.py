"""Flags several commands share, each with its help text (kubectl's spelling)."""

from __future__ import annotations

import argparse

from .output import Format


def add_target_flags(p: argparse.ArgumentParser) -> None:
    """Where to connect; accepted after the command too (`cutman get runs --server URL`)."""
    g = p.add_argument_group("connection")
    g.add_argument("--server", default=argparse.SUPPRESS,
                   help="URL of an installation's HTTP API (e.g. https://cutman.example.com); "
                        "default: $CUTMAN_SERVER, the current context, else the local cutman dev")
    g.add_argument("--token", default=argparse.SUPPRESS,
                   help="bearer token for --server (default: $CUTMAN_TOKEN or the context's)")
    g.add_argument("--context", default=argparse.SUPPRESS,
                   help="context of the cutman config file ($CUTMAN_CONFIG, ~/.config/cutman/config)")
    g.add_argument("--state-dir", default=argparse.SUPPRESS,
                   help="state folder of the local cutman dev (default .cutman or $CUTMAN_STATE_DIR)")
    g.add_argument("--redis-url", default=argparse.SUPPRESS,
                   help="read this Redis directly instead of the local cutman dev's")


def add_namespace_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("-n", "--namespace", help="namespace of the resources (default: the context's, else default)")
    p.add_argument("-A", "--all-namespaces", action="store_true", help="every namespace")


def add_output_flags(p: argparse.ArgumentParser, *, table: bool) -> None:
    formats = [f.value for f in Format] if table else ["table", "json", "yaml"]
    p.add_argument("-o", "--output", choices=formats, default="table",
                   help="output format: " + ", ".join(formats) + " (default table)")
