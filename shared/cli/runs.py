"""`cutman runs list|get|watch|logs|delete` and `cutman alerts list`."""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from typing import Any

from ..errors import NotFound
from ..runtime.views import run_details
from .connect import backend, default_namespace
from .kinds import lookup
from .options import add_namespace_flags, add_output_flags, add_target_flags
from .output import Format, dump, render
from .watch import watch_run


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    r = sub.add_parser("runs", help="list, show, follow, print or delete workflow runs")
    rsub = r.add_subparsers(dest="runs_command", required=True, metavar="COMMAND")

    rl = rsub.add_parser("list", help="runs, newest first (same as `cutman get runs`)")
    rl.add_argument("--workflow", help="only runs of this workflow (a name, or namespace/name)")
    rl.add_argument("--limit", type=int, default=50, help="at most this many runs (default 50)")
    add_namespace_flags(rl)
    add_output_flags(rl, table=True)
    add_target_flags(rl)
    rl.set_defaults(func=_sync(_list), all_namespaces=True)

    rg = rsub.add_parser("get", help="one run: steps, results, tool calls, approvals, outputs, sinks")
    rg.add_argument("id", metavar="RUN", help="run id (from `cutman get runs`)")
    add_output_flags(rg, table=False)
    add_target_flags(rg)
    rg.set_defaults(func=_sync(_show))

    rw = rsub.add_parser("watch", help="follow a run step by step until it finishes (exit code: 0 succeeded)")
    rw.add_argument("id", metavar="RUN", nargs="?", help="run id; default: the run under way, else the next one")
    rw.add_argument("--timeout", type=float, default=None, help="give up after this many seconds (exit code 1)")
    add_namespace_flags(rw)
    add_target_flags(rw)
    rw.set_defaults(func=_sync(_watch))

    rlog = rsub.add_parser("logs", help="print what a run's steps wrote (stdout, then stderr)")
    rlog.add_argument("id", metavar="RUN", help="run id")
    rlog.add_argument("step", metavar="STEP", nargs="?", help="only this step")
    add_target_flags(rlog)
    rlog.set_defaults(func=_sync(_logs))

    rd = rsub.add_parser("delete", help="forget runs (their state, sink records and index entries)")
    rd.add_argument("ids", metavar="RUN", nargs="+", help="run ids")
    add_target_flags(rd)
    rd.set_defaults(func=_sync(_delete))

    al = sub.add_parser("alerts", help="alert lifecycle per source (firing, resolved)")
    alsub = al.add_subparsers(dest="alerts_command", required=True, metavar="COMMAND")
    all_ = alsub.add_parser("list", help="alerts seen, most recent first (same as `cutman get alerts -A`)")
    add_namespace_flags(all_)
    add_output_flags(all_, table=True)
    add_target_flags(all_)
    all_.set_defaults(func=_sync(_alerts), all_namespaces=True)


def _sync(fn: Any) -> Any:
    def run(args: argparse.Namespace) -> int:
        return int(asyncio.run(fn(args)))
    return run


def _namespace(args: argparse.Namespace) -> str | None:
    if args.namespace:
        return str(args.namespace)
    return default_namespace(args)


async def _list(args: argparse.Namespace) -> int:
    be = backend(args)
    namespace = _namespace(args)
    workflow = args.workflow
    if workflow and "/" in workflow:
        namespace, _, workflow = workflow.partition("/")
    try:
        runs = await be.runs(namespace=namespace, workflow=workflow, limit=args.limit)
        for warning in be.warnings():
            print(f"warning: {warning}", file=sys.stderr)
    finally:
        await be.close()
    return _print_rows(args, runs, kind="runs", empty="No runs yet.", namespace=namespace)


async def _one(args: argparse.Namespace) -> dict[str, Any]:
    be = backend(args)
    try:
        run = await be.run(args.id)
    finally:
        await be.close()
    if run is None:
        raise NotFound(f"run {args.id} not found")
    return run


async def _show(args: argparse.Namespace) -> int:
    run = await _one(args)
    print(run_details(run) if args.output == "table" else dump(run, Format(args.output)))
    return 0


async def _watch(args: argparse.Namespace) -> int:
    be = backend(args)
    try:
        return await watch_run(be, args.id, namespace=default_namespace(args), timeout_s=args.timeout)
    finally:
        await be.close()


async def _logs(args: argparse.Namespace) -> int:
    run = await _one(args)
    steps = run["steps"]
    if args.step is not None:
        steps = [s for s in steps if s["name"] == args.step]
        if not steps:
            names = ", ".join(s["name"] for s in run["steps"])
            raise NotFound(f"run {args.id} has no step {args.step!r} (steps: {names})")
    for s in steps:
        if args.step is None:
            print(f"==> {s['name']} ({s['phase']}) <==", flush=True)
        if s.get("output"):
            sys.stdout.write(s["output"] if s["output"].endswith("\n") else s["output"] + "\n")
        if s.get("stderr"):
            sys.stdout.flush()
            sys.stderr.write(s["stderr"] if s["stderr"].endswith("\n") else s["stderr"] + "\n")
            sys.stderr.flush()
        if s.get("error") and args.step is None:
            print(f"error: {s['error']}")
    return 0


async def _delete(args: argparse.Namespace) -> int:
    be = backend(args)
    failed = 0
    try:
        for run_id in args.ids:
            try:
                await be.delete_run(run_id)
            except NotFound as exc:
                failed += 1
                print(f"error: {exc.message}", file=sys.stderr)
                continue
            print(f"run/{run_id} deleted")
    finally:
        await be.close()
    return 1 if failed else 0


async def _alerts(args: argparse.Namespace) -> int:
    be = backend(args)
    namespace = _namespace(args)
    try:
        rows = await be.alerts(namespace=namespace)
    finally:
        await be.close()
    return _print_rows(args, rows, kind="alerts", empty="No alerts seen.", namespace=namespace)


def _print_rows(args: argparse.Namespace, rows: list[dict[str, Any]], *, kind: str, empty: str,
                namespace: str | None) -> int:
    """A list command's answer: the JSON as is, else `kind`'s table (`empty` when there is
    nothing); a NAMESPACE column only when the list spans namespaces (`namespace` None)."""
    if args.output == "json":
        print(json.dumps(rows, indent=2))
        return 0
    if not rows and args.output in ("table", "wide"):
        print(empty)
        return 0
    info = lookup(kind)
    print(render(rows, fmt=Format(args.output), columns=info.columns, name=info.object_name,
                 namespace=info.namespace_of if namespace is None else None))
    return 0
