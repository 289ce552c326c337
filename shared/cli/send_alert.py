"""`cutman send-alert SOURCE alertname=X -l k=v [--annotation k=v] [--resolve]`, like
`amtool alert add`: an Alertmanager webhook (version 4) body posted at a Source's path.

Locally the Source's compiled config gives the path, and its `authentication` is
satisfied from the Secret `cutman apply` stored (a bearer token, or an HMAC signature
of the body), so the alert goes through exactly what Alertmanager's would. Against
`--server`, the path comes from the API and the webhook token from `--webhook-token`
(or `$CUTMAN_WEBHOOK_TOKEN`): the API never hands out Secrets.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
from typing import Any

import httpx

from .. import clock
from ..core import auth
from ..errors import BadRequest, NotFound, Unavailable
from ..models.resources import Kind
from ..models.secret import SecretRef
from .connect import backend, local_stack, local_store, target
from .options import add_target_flags


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("send-alert", help="fire an Alertmanager-format alert at a Source (like amtool alert add)")
    p.add_argument("source", metavar="SOURCE", help="the Source (a webhook Source's name) to post to")
    p.add_argument("labels", metavar="LABEL=VALUE", nargs="*", help="alert labels, e.g. alertname=HighCPU pod=web-1")
    p.add_argument("-l", "--label", action="append", default=[], metavar="K=V", help="an alert label (repeatable)")
    p.add_argument("--annotation", action="append", default=[], metavar="K=V",
                   help="an alert annotation, e.g. summary='CPU above 90%%' (repeatable)")
    p.add_argument("--resolve", action="store_true", help="send the alert as resolved (endsAt now)")
    p.add_argument("--generator-url", default="", help="the alert's generatorURL")
    p.add_argument("-n", "--namespace", default="default", help="namespace of the Source (default: default)")
    p.add_argument("--webhook-token", default=os.environ.get("CUTMAN_WEBHOOK_TOKEN"),
                   help="with --server: the Source's bearer token or HMAC key (default $CUTMAN_WEBHOOK_TOKEN)")
    add_target_flags(p)
    p.set_defaults(func=lambda args: asyncio.run(_send(args)), accepts_extra_labels=True)


def pairs(items: list[str], what: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise BadRequest(f"{what} {item!r}: expected key=value", field=what)
        out[key.strip()] = value
    return out


def webhook_body(*, labels: dict[str, str], annotations: dict[str, str], resolved: bool,
                 generator_url: str, now: str) -> dict[str, Any]:
    """An Alertmanager webhook v4 notification holding one alert."""
    status = "resolved" if resolved else "firing"
    alert = {"status": status, "labels": labels, "annotations": annotations, "startsAt": now,
             "endsAt": now if resolved else "0001-01-01T00:00:00Z", "generatorURL": generator_url}
    return {"version": "4", "groupKey": "{}:{alertname=" + json.dumps(labels.get("alertname", "")) + "}",
            "truncatedAlerts": 0, "status": status, "receiver": "cutman-cli",
            "groupLabels": {"alertname": labels.get("alertname", "")}, "commonLabels": labels,
            "commonAnnotations": annotations, "externalURL": "", "alerts": [alert]}


async def _local_secret(args: argparse.Namespace, ref: str, namespace: str) -> str:
    parsed = SecretRef.parse(ref, namespace=namespace)
    store = local_store(args)
    try:
        data = await store.get_secret(parsed.secret)
    finally:
        await store.close()
    if data is None or parsed.key not in data:
        raise NotFound(f"Secret {parsed} of the Source's authentication is not applied")
    return data[parsed.key]


def auth_headers(authn: dict[str, Any], secret: str, body: bytes) -> dict[str, str]:
    header = str(authn.get("header") or "").lower()
    if authn.get("type") == "hmac":
        return {header or auth.DEFAULT_SIGNATURE_HEADER: auth.sign(body, key=secret)}
    return {header or auth.BEARER_HEADER: f"Bearer {secret}"}


async def _send(args: argparse.Namespace) -> int:
    labels = {**pairs(args.labels, "label"), **pairs(args.label, "label")}
    if not labels.get("alertname"):
        raise BadRequest("an alert needs the label alertname (e.g. alertname=HighCPU)", field="alertname")
    where = target(args)
    be = backend(args)
    try:
        view = await be.resource(Kind.SOURCE, args.namespace, args.source)
    finally:
        await be.close()
    if view is None:
        raise NotFound(f'sources.cutman.dev "{args.source}" not found in namespace {args.namespace}')
    cfg = (view.get("spec") or {}).get("config") or {}
    if (view.get("spec") or {}).get("type") != "webhook" or not cfg.get("path"):
        raise BadRequest(f"Source {args.namespace}/{args.source} is not a webhook Source with a path")
    body = json.dumps(webhook_body(labels=labels, annotations=pairs(args.annotation, "annotation"),
                                   resolved=args.resolve, generator_url=args.generator_url,
                                   now=clock.now())).encode()
    headers = {"content-type": "application/json"}
    authn = cfg.get("authentication")
    if authn:
        secret = (args.webhook_token if where.server
                  else await _local_secret(args, str(authn.get("secretRef", "")), args.namespace))
        if not secret:
            raise BadRequest("this Source needs authentication: give --webhook-token (or $CUTMAN_WEBHOOK_TOKEN)")
        headers.update(auth_headers(authn, secret, body))
    base = where.server.rstrip("/") if where.server else f"http://127.0.0.1:{local_stack(args).port}"
    try:
        async with httpx.AsyncClient(timeout=30) as http:
            resp = await http.post(base + cfg["path"], content=body, headers=headers)
    except httpx.HTTPError as exc:
        raise Unavailable(f"{base} unreachable: {type(exc).__name__}") from None
    try:
        answer = resp.json()
    except ValueError:
        answer = None
    if not isinstance(answer, dict):  # not ingest's answer: a proxy's page, a list
        answer = {"message": resp.text[:300]}
    if resp.status_code >= 300:
        print(f"error: {cfg['path']} answered {resp.status_code}: {answer.get('message', answer)}", file=sys.stderr)
        return 1
    state = "resolved" if args.resolve else "firing"
    counts = ", ".join(f"{k} {v}" for k, v in answer.items() if isinstance(v, int))
    print(f"alert {labels['alertname']} {state} sent to {args.namespace}/{args.source} ({cfg['path']}): {counts}")
    return 0
