"""`cutman describe KIND NAME`: spec summary, status conditions with reasons, generated
Triggers and recent runs, laid out as `kubectl describe` does."""

from __future__ import annotations

import argparse
import asyncio
import json
from typing import Any

from ..models.resources import Kind
from ..runtime.views import duration_text, run_details
from .backend import Backend
from .connect import backend, default_namespace
from .get import fetch
from .kinds import choices, lookup
from .options import add_target_flags
from .output import age, dig, table

RECENT_RUNS = 5


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("describe", help="show one resource in detail: spec, conditions, Triggers, recent runs")
    p.add_argument("kind", metavar="KIND", help="sources, workflows, sinks, runs or alerts").completer = (  # type: ignore[attr-defined]
        lambda **_: choices())
    p.add_argument("name", metavar="NAME", help="its name (a run id for runs, a fingerprint for alerts)")
    p.add_argument("-n", "--namespace", help="namespace of the resource (default: the context's, else default)")
    add_target_flags(p)
    p.set_defaults(func=main)


def _field(label: str, value: Any, indent: int = 0) -> str:
    if value is None or value == "" or value == [] or value == {}:
        value = "<none>"
    elif isinstance(value, dict):
        value = ", ".join(f"{k}={v}" for k, v in value.items())
    elif isinstance(value, list):
        value = ", ".join(v if isinstance(v, str) else json.dumps(v) for v in value)
    return f"{' ' * indent}{label + ':':<{22 - indent}}{value}"


def _header(doc: dict[str, Any]) -> list[str]:
    meta = doc.get("metadata") or {}
    return [
        _field("Name", meta.get("name")),
        _field("Namespace", meta.get("namespace", "default")),
        _field("Labels", meta.get("labels")),
        _field("Annotations", meta.get("annotations")),
        _field("API Version", doc.get("apiVersion")),
        _field("Kind", doc.get("kind")),
        _field("Created", (f"{meta['creationTimestamp']} ({age(meta['creationTimestamp'])} ago)"
                           if meta.get("creationTimestamp") else None)),
        _field("Generation", meta.get("generation")),
    ]


def _source_spec(spec: dict[str, Any]) -> list[str]:
    cfg = spec.get("config") or {}
    auth = cfg.get("authentication") or {}
    return [
        "Spec:",
        _field("Type", spec.get("type"), 2),
        _field("Trigger Workflow", spec.get("triggerWorkflow"), 2),
        _field("Path", cfg.get("path") or cfg.get("endpoint"), 2),
        *([_field("Schedule", f"{cfg['cron']} {cfg.get('timezone', '')}".strip(), 2)] if cfg.get("cron") else []),
        *([_field("Resource", cfg["resource"], 2)] if cfg.get("resource") else []),
        _field("Filters", {k: "|".join(v) if isinstance(v, list) else v for k, v in (cfg.get("filters") or {}).items()}, 2),
        _field("Matchers", cfg.get("matchers"), 2),
        _field("Authentication", f"{auth['type']} (secret {auth.get('secretRef')})" if auth else None, 2),
        _field("Dedupe", cfg.get("dedupe"), 2),
        _field("Context", spec.get("context"), 2),
    ]


def _workflow_spec(spec: dict[str, Any]) -> list[str]:
    rows = []
    for s in spec.get("steps") or []:
        what = s.get("command") or " ".join(s.get("args") or []) or s.get("goal") or s.get("condition") or ""
        flags = []
        if s.get("timeoutMinutes"):
            flags.append(f"timeout {float(s['timeoutMinutes']):g}m")
        if s.get("approvalRequired"):
            flags.append("approval")
        if s.get("tools"):
            flags.append("tools " + ",".join(t if isinstance(t, str) else t.get("name", "?") for t in s["tools"]))
        rows.append([s["name"], s.get("type", ""), " ".join(what.split())[:70], " ".join(flags)])
    llm = dig(spec, "runtime", "llmConfig") or {}
    return [
        "Spec:",
        "  Steps:",
        *["    " + line for line in table(rows, ["NAME", "TYPE", "RUNS", "OPTIONS"]).splitlines()],
        _field("Outputs", [o["name"] for o in spec.get("outputs") or []], 2),
        _field("Sinks", spec.get("sinks"), 2),
        _field("Environment", dig(spec, "runtime", "environment"), 2),
        *([_field("Model", f"{llm.get('provider', '')} {llm.get('model', '')} {llm.get('endpoint', '')}".strip(), 2)]
          if llm else []),
        *([_field("Timeout", f"{spec['timeoutMinutes']}m", 2)] if spec.get("timeoutMinutes") else []),
    ]


def _sink_spec(spec: dict[str, Any]) -> list[str]:
    cfg = {k: v for k, v in (spec.get("config") or {}).items() if k not in ("headers",)}
    lines = ["Spec:", _field("Type", spec.get("type"), 2), _field("Condition", spec.get("condition"), 2)]
    for key, value in cfg.items():
        lines.append(_field(key, value if not isinstance(value, dict | list) else json.dumps(value), 2))
    return lines


def _status(doc: dict[str, Any]) -> list[str]:
    status = {k: v for k, v in (doc.get("status") or {}).items() if k != "conditions"}
    lines = ["Status:"] + ([_field(k, v, 2) for k, v in status.items()] or ["  <none>"])
    conds = dig(doc, "status", "conditions") or []
    lines.append("Conditions:")
    if conds:
        rows = [[c.get("type", ""), c.get("status", ""), c.get("reason", ""), c.get("lastTransitionTime", ""),
                 c.get("message", "")] for c in conds]
        lines += ["  " + line for line in table(rows, ["TYPE", "STATUS", "REASON", "LAST TRANSITION",
                                                        "MESSAGE"]).splitlines()]
    else:
        lines.append("  <none>")
    return lines


def _subscriber(trig: dict[str, Any]) -> str:
    sub = dig(trig, "spec", "subscriber") or {}
    return f"{dig(sub, 'ref', 'name') or ''}{sub.get('uri', '')}"


def _short(value: str) -> str:
    return value.removeprefix("dev.cutman.")


def filter_text(node: Any) -> str:
    """A Trigger's filters in one line: `cmsource=default/am type=(alert.firing|source.event)`."""
    if isinstance(node, list):
        return " ".join(filter_text(n) for n in node)
    if not isinstance(node, dict):
        return str(node)
    parts = []
    for op, arg in node.items():
        if op in ("exact", "prefix", "suffix") and isinstance(arg, dict):
            sign = {"exact": "=", "prefix": "^=", "suffix": "$="}[op]
            parts += [f"{k}{sign}{_short(str(v))}" for k, v in arg.items()]
        elif op == "all":
            parts.append(filter_text(arg))
        elif op == "any":
            parts.append("(" + "|".join(filter_text(a) for a in arg) + ")")
        elif op == "not":
            parts.append("!(" + filter_text(arg) + ")")
        else:
            parts.append(f"{op}:{json.dumps(arg)}")
    return " ".join(parts)


def _filter(trig: dict[str, Any]) -> str:
    spec = trig.get("spec") or {}
    if spec.get("filters"):
        return filter_text(spec["filters"])
    return " ".join(f"{k}={_short(str(v))}" for k, v in ((spec.get("filter") or {}).get("attributes") or {}).items())


def _owned(kind: Kind, doc: dict[str, Any], trig: dict[str, Any]) -> bool:
    name = dig(doc, "metadata", "name")
    ns = dig(doc, "metadata", "namespace") or "default"
    labels = dig(trig, "metadata", "labels") or {}
    text = json.dumps(trig)
    if kind is Kind.WORKFLOW:
        return bool(labels.get("cutman.dev/workflow") == name)
    if kind is Kind.SOURCE:
        return f'"{ns}/{name}"' in text
    return str(dig(trig, "spec", "subscriber", "uri") or "").endswith(f"/sinks/{ns}/{name}")


async def _triggers(be: Backend, kind: Kind, doc: dict[str, Any]) -> list[str]:
    ns = dig(doc, "metadata", "namespace") or "default"
    every = await be.triggers(ns)
    lines = ["Triggers:"]
    if every is None:
        label = "cutman.dev/workflow=" + str(dig(doc, "metadata", "name")) if kind is Kind.WORKFLOW else "app.kubernetes.io/managed-by=cutman"
        return [*lines, f"  (not served by the API; kubectl get triggers -n cutman -l {label})"]
    mine = [t for t in every if _owned(kind, doc, t)]
    if not mine:
        return [*lines, "  <none>"]
    rows = [[dig(t, "metadata", "name"), dig(t, "metadata", "labels", "cutman.dev/role") or "", _filter(t),
             _subscriber(t)] for t in mine]
    return lines + ["  " + line for line in table(rows, ["NAME", "ROLE", "FILTER", "SUBSCRIBER"]).splitlines()]


async def _recent_runs(be: Backend, kind: Kind, doc: dict[str, Any]) -> list[str]:
    ns = dig(doc, "metadata", "namespace") or "default"
    name = dig(doc, "metadata", "name")
    if kind is Kind.WORKFLOW:
        runs = await be.runs(namespace=ns, workflow=name, limit=RECENT_RUNS)
    elif kind is Kind.SOURCE:
        wf = dig(doc, "spec", "triggerWorkflow")
        runs = [r for r in await be.runs(namespace=ns, workflow=wf, limit=50) if r.get("source") == f"{ns}/{name}"]
        runs = runs[:RECENT_RUNS] if wf else []
    else:
        runs = [r for r in await be.runs(namespace=ns, workflow=None, limit=50) if name in (r.get("sinks") or {})]
        runs = runs[:RECENT_RUNS]
    lines = ["Recent Runs:"]
    if not runs:
        return [*lines, "  <none>"]
    rows = [[r["id"], r["phase"], r["startTime"], duration_text(r.get("durationSeconds")),
             (dig(r, "sinks", name, "phase") if kind is Kind.SINK else dig(r, "alert", "alertname")) or ""]
            for r in runs]
    last = "DELIVERY" if kind is Kind.SINK else "ALERT"
    return lines + ["  " + line for line in table(rows, ["NAME", "PHASE", "STARTED", "DURATION", last]).splitlines()]


SPEC = {Kind.SOURCE: _source_spec, Kind.WORKFLOW: _workflow_spec, Kind.SINK: _sink_spec}


async def describe(be: Backend, kind_text: str, name: str, namespace: str) -> str:
    info = lookup(kind_text)
    items = await fetch(be, info, namespace=namespace, name=name, limit=1)
    doc = items[0]
    if info.crd is None:
        if info.name == "runs":
            return run_details(doc)
        return "\n".join(_field(k, v) for k, v in doc.items())
    lines = _header(doc) + SPEC[info.crd](doc.get("spec") or {}) + _status(doc)
    lines += await _triggers(be, info.crd, doc)
    lines += await _recent_runs(be, info.crd, doc)
    return "\n".join(lines)


async def _main(args: argparse.Namespace) -> int:
    be = backend(args)
    try:
        print(await describe(be, args.kind, args.name, default_namespace(args) or "default"))
    finally:
        await be.close()
    return 0


def main(args: argparse.Namespace) -> int:
    return asyncio.run(_main(args))
