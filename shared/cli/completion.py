"""`cutman completion bash|zsh|fish`: shell completion code, from argcomplete.

argcomplete (a well-kept PyPI package) completes from the same argparse parsers the
command runs, so every command and flag completes without a hand-kept list.
Install: `source <(cutman completion bash)`, or for zsh `source <(cutman completion zsh)`.
"""

from __future__ import annotations

import argparse

from argcomplete.shell_integration import shellcode


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    c = sub.add_parser("completion", help="print shell completion code (source <(cutman completion bash))")
    c.add_argument("shell", choices=["bash", "zsh", "fish"], help="the shell to complete in")
    c.set_defaults(func=_run)


def _run(args: argparse.Namespace) -> int:
    print(shellcode(["cutman"], shell=args.shell))
    return 0
