"""`cutman get KIND [NAME]`: list or show Sources, Workflows, Sinks, runs and alerts."""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from ..core.selectors import parse_selector
from ..errors import NotFound
from .backend import Backend, manifest
from .connect import backend, default_namespace
from .kinds import KindInfo, choices, lookup
from .options import add_namespace_flags, add_output_flags, add_target_flags
from .output import Format, render
from .watch import watch_run

RUN_LIMIT = 50


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser(
        "get", help="list Sources, Workflows, Sinks, runs or alerts (kubectl get)",
        description="Display one or many resources. KIND is sources, workflows, sinks, runs or alerts "
                    "(or a singular, a short name cmsrc, cmwf, cmsink, or plural.cutman.dev).")
    p.add_argument("kind", metavar="KIND", help="sources, workflows, sinks, runs or alerts").completer = (  # type: ignore[attr-defined]
        lambda **_: choices())
    p.add_argument("name", metavar="NAME", nargs="?", help="show only this one (a run id for runs)")
    add_namespace_flags(p)
    p.add_argument("-l", "--selector", help="label selector: k=v, k!=v, k in (a,b), k, !k "
                                            "(runs match their alert's labels)")
    add_output_flags(p, table=True)
    p.add_argument("--no-headers", action="store_true", help="print tables without the header line")
    p.add_argument("-w", "--watch", action="store_true",
                   help="runs only: follow a run (NAME, else the next one) step by step until it finishes")
    p.add_argument("--limit", type=int, default=RUN_LIMIT, help="runs only: at most this many, newest first")
    add_target_flags(p)
    p.set_defaults(func=main)


async def fetch(be: Backend, info: KindInfo, *, namespace: str | None, name: str | None,
                limit: int) -> list[dict[str, Any]]:
    if info.crd is not None:
        if name is not None:
            doc = await be.resource(info.crd, namespace or "default", name)
            if doc is None:
                raise NotFound(f'{info.crd.plural}.cutman.dev "{name}" not found')
            return [manifest(doc)]
        return [manifest(v) for v in await be.resources(info.crd, namespace)]
    if info.name == "runs":
        if name is not None:
            run = await be.run(name)
            if run is None:
                raise NotFound(f'run "{name}" not found')
            return [run]
        return await be.runs(namespace=namespace, workflow=None, limit=limit)
    alerts = await be.alerts(namespace=namespace)
    if name is not None:
        alerts = [a for a in alerts if str(a.get("fingerprint", "")).startswith(name) or a.get("alertname") == name]
        if not alerts:
            raise NotFound(f'alert "{name}" not found')
    return alerts


async def _get(args: argparse.Namespace) -> int:
    info = lookup(args.kind)
    selector = parse_selector(args.selector)
    namespace = default_namespace(args)
    be = backend(args)
    try:
        if args.watch:
            if info.name != "runs":
                print("error: --watch is for runs (cutman get runs -w [RUN])", file=sys.stderr)
                return 1
            return await watch_run(be, args.name, namespace=namespace)
        items = await fetch(be, info, namespace=namespace, name=args.name, limit=args.limit)
        for warning in be.warnings():
            print(f"warning: {warning}", file=sys.stderr)
    finally:
        await be.close()
    items = [i for i in items if selector.matches(info.labels_of(i))]
    fmt = Format(args.output)
    if not items and fmt in (Format.TABLE, Format.WIDE):
        where = "" if namespace is None else f" in {namespace} namespace"
        print(f"No resources found{where}.", file=sys.stderr)
        return 0
    text = render(items, fmt=fmt, columns=info.columns, name=info.object_name, single=args.name is not None,
                  headers=not args.no_headers, namespace=info.namespace_of if namespace is None else None)
    if text:
        print(text)
    return 0


def main(args: argparse.Namespace) -> int:
    return asyncio.run(_get(args))
