"""`cutman approve|deny RUN STEP`: answer a step waiting for approval, which resumes the run.

Locally the answer is recorded in Redis and the `step.requested` that resumes the run
is posted to the dev broker; with `--server` the API's approve/deny route does both.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys

import httpx

from ..adapters.broker_client import HTTPBroker
from ..approvals import apply_decision, resume
from ..errors import Unavailable
from ..models.run import Decision
from .connect import local_stack, local_store, target
from .http_backend import _error
from .options import add_target_flags


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    for name, help_ in (("approve", "approve a step awaiting approval"), ("deny", "deny a step awaiting approval")):
        ap = sub.add_parser(name, help=help_ + " (resumes the run)")
        ap.add_argument("run", metavar="RUN", help="run id")
        ap.add_argument("step", metavar="STEP", help="the step waiting for approval")
        ap.add_argument("--by", default=os.environ.get("USER") or "cli", help="who decides (recorded on the run)")
        ap.add_argument("--broker-url", default=None, help="broker ingress (default: the running cutman dev's)")
        add_target_flags(ap)
        ap.set_defaults(func=lambda args: asyncio.run(_decide(args)))


async def _remote(args: argparse.Namespace, server: str, token: str | None) -> int:
    url = f"{server.rstrip('/')}/api/v1/runs/{args.run}/steps/{args.step}/{args.command}"
    headers = {"authorization": f"Bearer {token}"} if token else {}
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            resp = await http.post(url, json={"by": args.by}, headers=headers)
    except httpx.HTTPError as exc:
        raise Unavailable(f"{server} unreachable: {type(exc).__name__}") from None
    if resp.status_code >= 300:
        raise _error(resp, server)
    answer = resp.json()
    print(f"run {args.run} step {args.step} {answer.get('decision', args.command)} by {args.by}")
    if answer.get("pending"):
        print(f"the run resumes within a housekeeping sweep: {answer['pending']}", file=sys.stderr)
    return 0


async def _decide(args: argparse.Namespace) -> int:
    where = target(args)
    if where.server:
        return await _remote(args, where.server, where.token)
    broker_url = args.broker_url or local_stack(args).broker_url
    decision = Decision.APPROVED if args.command == "approve" else Decision.DENIED
    store, broker = local_store(args), HTTPBroker(broker_url)
    try:
        applied = await apply_decision(store, run_id=args.run, step=args.step, decision=decision, by=args.by)
        pending = await resume(store, broker, applied)
    finally:
        await store.close()
        await broker.close()
    if applied.refused:
        print(f"error: {applied.refused}; the step fails", file=sys.stderr)
        return 1
    print(f"run {args.run} step {args.step} {decision.value} by {args.by}")
    if pending:
        print(f"the run resumes within a housekeeping sweep: its resume event is recorded but not sent yet "
              f"({pending})", file=sys.stderr)
    return 0
