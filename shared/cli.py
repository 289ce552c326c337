"""The `cutman` command: run the local stack, apply resources, inspect runs."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from .adapters.broker_client import HTTPBroker
from .adapters.store import RedisStore
from .approvals import apply_decision
from .errors import CutmanError
from .models.manifests import ManifestError, parse_resource, read_paths
from .models.run import Decision
from .models.secret import is_namespace, is_secret, secret_data
from .runtime import dev
from .runtime.stack import StackInfo, send_to_reconciler, state_dir
from .runtime.views import run_details, run_view, runs_table, table

KIND_ORDER = {"Namespace": -1, "Secret": 0, "Sink": 1, "Workflow": 2, "Source": 3}


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cutman", description=__doc__)
    p.add_argument("--state-dir", help="state folder of the local stack (default .cutman or $CUTMAN_STATE_DIR)")
    sub = p.add_subparsers(dest="command", required=True)

    d = sub.add_parser("dev", help="run the whole system locally, in the foreground")
    d.add_argument("--port", type=int, default=int(os.environ.get("CUTMAN_PORT", "8080")))
    d.add_argument("--redis-url", default=os.environ.get("REDIS_URL"))
    d.add_argument("-f", "--filename", action="append", default=[], help="file or folder to apply at start")
    d.add_argument("-v", "--verbose", action="store_true", help="show every component's JSON log")

    for name, help_ in (("apply", "create or update resources"), ("delete", "delete resources")):
        a = sub.add_parser(name, help=help_ + " in the running cutman dev")
        a.add_argument("-f", "--filename", action="append", required=True)

    r = sub.add_parser("runs", help="list or show workflow runs")
    rsub = r.add_subparsers(dest="runs_command", required=True)
    rl = rsub.add_parser("list")
    rl.add_argument("--workflow", help="namespace/name")
    rl.add_argument("--limit", type=int, default=50)
    rl.add_argument("-o", "--output", choices=["table", "json"], default="table")
    rg = rsub.add_parser("get")
    rg.add_argument("id")
    rg.add_argument("-o", "--output", choices=["table", "json"], default="table")
    for name, help_ in (("approve", "approve a step awaiting approval"), ("deny", "deny a step awaiting approval")):
        ap = sub.add_parser(name, help=help_ + " (resumes the run)")
        ap.add_argument("run")
        ap.add_argument("step")
        ap.add_argument("--by", default=os.environ.get("USER") or "cli", help="who decides (recorded on the run)")
        ap.add_argument("--redis-url", default=None)
        ap.add_argument("--broker-url", default=None, help="broker ingress (default: the running cutman dev)")
    al = sub.add_parser("alerts", help="alert lifecycle per source (firing, resolved)")
    alsub = al.add_subparsers(dest="alerts_command", required=True)
    all_ = alsub.add_parser("list")
    all_.add_argument("-o", "--output", choices=["table", "json"], default="table")
    for sp in (rl, rg, all_):
        sp.add_argument("--redis-url", default=None)
    return p


def _stack(args: argparse.Namespace) -> StackInfo:
    info = StackInfo.load(state_dir(args.state_dir))
    if info is None:
        raise SystemExit(f"no cutman dev is running from {state_dir(args.state_dir)}; start one with `cutman dev`")
    return info


def _apply(args: argparse.Namespace, *, delete: bool) -> int:
    try:
        docs = read_paths([Path(f) for f in args.filename])
        if not delete:
            for doc in docs:
                if is_secret(doc.body):
                    secret_data(doc.body, where=doc.where)
                elif not is_namespace(doc.body):
                    parse_resource(doc.body, where=doc.where)
    except ManifestError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    info = _stack(args)
    docs.sort(key=lambda d: KIND_ORDER.get(d.kind, 9) * (-1 if delete else 1))
    docs = [d for d in docs if not (delete and is_namespace(d.body))]
    failed = 0
    for doc in docs:
        meta = doc.body.get("metadata", {})
        group = "" if is_secret(doc.body) or is_namespace(doc.body) else ".cutman.dev"
        ref = f"{meta.get('namespace', 'default')}/{meta.get('name')}"
        name = f"{doc.kind.lower()}{group}/{meta.get('name') if is_namespace(doc.body) else ref}"
        status, body = send_to_reconciler(info, doc, delete=delete)
        if status == 200:
            print(f"{name} {'deleted' if delete else 'configured'}")
            why = (body.get("notReady") or {}).get(f"{doc.kind} {ref}")
            if why and not delete:
                print(f"  not Ready: {why}")
        else:
            failed += 1
            print(f"error: {doc.where}: {body.get('message', body)}", file=sys.stderr)
    return 1 if failed else 0


async def _alerts(store: RedisStore, args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = []
    for cfg in await store.list_configs("source"):
        meta = cfg["metadata"]
        key = f"{meta.get('namespace', 'default')}/{meta['name']}"
        rows += [{"source": key, **state} for state in await store.alert_states(key)]
    rows.sort(key=lambda r: r.get("lastSeen", ""), reverse=True)
    if args.output == "json":
        print(json.dumps(rows, indent=2))
    elif rows:
        print(table([[r["source"], r.get("alertname", ""), r.get("status", ""), r.get("count", ""),
                      _ts(r.get("since")), _ts(r.get("resolvedAt")), r["fingerprint"][:12]] for r in rows],
                    ["SOURCE", "ALERT", "STATUS", "COUNT", "FIRING SINCE", "RESOLVED", "FINGERPRINT"]))
    else:
        print("No alerts seen.")
    return 0


def _ts(epoch: str | None) -> str:
    if not epoch:
        return "-"
    return datetime.fromtimestamp(float(epoch), UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _decide(args: argparse.Namespace) -> int:
    """Record the answer in Redis, then post the step.requested that resumes the run."""
    url = args.redis_url or os.environ.get("REDIS_URL") or _stack(args).redis_url
    broker_url = args.broker_url or _stack(args).broker_url
    decision = Decision.APPROVED if args.command == "approve" else Decision.DENIED
    store, broker = RedisStore(url), HTTPBroker(broker_url)
    try:
        applied = await apply_decision(store, run_id=args.run, step=args.step, decision=decision, by=args.by)
        await broker.send([applied.event])
    finally:
        await store.close()
        await broker.close()
    if applied.refused:
        print(f"error: {applied.refused}; the step fails", file=sys.stderr)
        return 1
    print(f"run {args.run} step {args.step} {decision.value} by {args.by}")
    return 0


async def _inspect(args: argparse.Namespace) -> int:
    url = args.redis_url or os.environ.get("REDIS_URL") or _stack(args).redis_url
    store = RedisStore(url)
    try:
        if args.command == "alerts":
            return await _alerts(store, args)
        if args.runs_command == "list":
            runs = await store.list_runs(workflow=args.workflow, limit=args.limit)
            for skipped in runs.unreadable:
                print(f"warning: skipped {skipped.message}", file=sys.stderr)
            if args.output == "json":
                views = [run_view(r, await store.sink_records(r.id), full=False) for r in runs]
                print(json.dumps(views, indent=2))
            else:
                print(runs_table(runs) if runs else "No runs yet.")
            return 0
        run = await store.get_run(args.id)
        if run is None:
            print(f"error: run {args.id} not found", file=sys.stderr)
            return 1
        view: dict[str, Any] = run_view(run, await store.sink_records(run.id))
        print(json.dumps(view, indent=2) if args.output == "json" else run_details(view))
        return 0
    finally:
        await store.close()


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        if args.command == "dev":
            return dev.run(state=state_dir(args.state_dir), port=args.port, redis_url=args.redis_url,
                           files=[Path(f) for f in args.filename], verbose=args.verbose)
        if args.command in ("apply", "delete"):
            return _apply(args, delete=args.command == "delete")
        if args.command in ("approve", "deny"):
            return asyncio.run(_decide(args))
        return asyncio.run(_inspect(args))
    except ManifestError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    except CutmanError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    raise SystemExit(main())
