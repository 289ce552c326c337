"""The web page's HTML, rendered from the API's JSON shapes: pure functions, escaped.

Every value that came from an alert, a step or a CR goes through `html.escape`; nothing
is ever inserted as markup. Pages are whole documents; `runs_fragment` and
`run_fragment` are the parts the page's script swaps in when the stream says a run moved.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from html import escape
from typing import Any

PHASE_CLASS = {"Succeeded": "ok", "Failed": "bad", "Running": "run", "Pending": "wait",
               "AwaitingApproval": "gate", "Skipped": "skip", "Delivered": "ok", "firing": "bad",
               "resolved": "ok"}
ANSWER_FIELDS = (("summary", "Summary"), ("root_cause", "Root cause"))


def e(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def badge(phase: str | None) -> str:
    return f'<span class="badge {PHASE_CLASS.get(phase or "", "wait")}">{e(phase or "-")}</span>'


def ready_badge(ready: bool | None) -> str:
    if ready is None:
        return '<span class="badge wait">Unknown</span>'
    return '<span class="badge ok">Ready</span>' if ready else '<span class="badge bad">Not ready</span>'


def dur(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds * 1000:.0f} ms" if seconds < 1 else f"{seconds:.2f} s"


def epoch(ts: float | None) -> str:
    if not ts:
        return "-"
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%d %H:%M:%SZ")


def short_time(ts: str | None) -> str:
    return e((ts or "-").replace("T", " ")[:19])


def table(headings: Sequence[str], rows: Iterable[str], *, attrs: str = "") -> str:
    """A table of rows already rendered (and escaped) under fixed, trusted headings."""
    head = "".join(f"<th>{h}</th>" for h in headings)
    return f"<table{attrs}><thead><tr>{head}</tr></thead><tbody>{''.join(rows)}</tbody></table>"


def page(title: str, body: str, *, nav: str = "runs", stream: str = "", fragment: str = "") -> str:
    links = "".join(f'<a href="/ui{href}" class="{"on" if key == nav else ""}">{label}</a>'
                    for key, href, label in (("runs", "", "Runs"), ("alerts", "/alerts", "Alerts"),
                                             ("resources", "/resources", "Resources")))
    data = f' data-stream="{e(stream)}" data-fragment="{e(fragment)}"' if stream else ""
    return ("<!doctype html><html lang=en><head><meta charset=utf-8>"
            '<meta name=viewport content="width=device-width, initial-scale=1">'
            f"<title>{e(title)} · cutman</title><link rel=stylesheet href=/ui/static/app.css>"
            "<script defer src=/ui/static/app.js></script></head>"
            f'<body{data}><header><b class=logo>cutman</b><nav>{links}</nav>'
            + ('<span id=live class="live off" title="live updates">live</span>' if stream else "")
            + '</header>'
            f"<main>{body}</main></body></html>")


def login_page(message: str = "") -> str:
    note = f'<p class="error">{e(message)}</p>' if message else ""
    return page("Log in", f"<h1>Log in</h1>{note}<form method=post action=/ui/login class=login>"
                          "<label>API token <input type=password name=token autocomplete=off required></label>"
                          "<button>Log in</button></form><p class=muted>The token is ingest's "
                          "CUTMAN_API_TOKEN.</p>", nav="")


# --- runs list ----------------------------------------------------------------------


def _alert_cell(run: dict[str, Any]) -> str:
    a = run.get("alert") or {}
    if not a:
        return f'<span class="muted">{e(run.get("source") or "-")}</span>'
    sev = f' <span class="sev">{e(a.get("severity"))}</span>' if a.get("severity") else ""
    return f"{e(a.get('alertname'))}{sev}"


def _step_dots(run: dict[str, Any]) -> str:
    return "".join(f'<span class="dot {PHASE_CLASS.get(s["phase"], "wait")}" title="{e(s["name"])}: '
                   f'{e(s["phase"])}"></span>' for s in run.get("steps") or [])


def runs_fragment(runs: list[dict[str, Any]]) -> str:
    if not runs:
        return '<p class="muted empty" id=runs>No runs yet. Fire an alert at a Source\'s path.</p>'
    return table(("Run", "Workflow", "Phase", "Steps", "Alert", "Started", "Duration"), (
        f'<tr data-run="{e(r["id"])}" data-phase="{e(r["phase"])}">'
        f'<td><a href="/ui/runs/{e(r["id"])}">{e(r["id"])}</a></td><td>{e(r["workflow"])}</td>'
        f'<td>{badge(r["phase"])}</td><td class=dots>{_step_dots(r)}</td><td>{_alert_cell(r)}</td>'
        f'<td>{short_time(r["startTime"])}</td><td>{dur(r.get("durationSeconds"))}</td></tr>'
        for r in runs), attrs=" id=runs")


def runs_page(runs: list[dict[str, Any]]) -> str:
    return page("Runs", f"<h1>Runs</h1><div id=fragment>{runs_fragment(runs)}</div>",
                stream="/api/v1/stream", fragment="/ui/fragments/runs")


# --- one run ------------------------------------------------------------------------


def _answer(result: dict[str, Any]) -> str:
    """An agent's answer laid out: summary, root cause, recommendations, confidence."""
    parts = [f"<dt>{label}</dt><dd>{e(result[key])}</dd>" for key, label in ANSWER_FIELDS if result.get(key)]
    recs = result.get("recommendations")
    if isinstance(recs, list) and recs:
        items = "".join(f"<li>{e(r if isinstance(r, str) else json.dumps(r))}</li>" for r in recs)
        parts.append(f"<dt>Recommendations</dt><dd><ol>{items}</ol></dd>")
    conf = result.get("confidence")
    if isinstance(conf, int | float):
        pct = max(0.0, min(1.0, float(conf) if conf <= 1 else float(conf) / 100))
        parts.append(f'<dt>Confidence</dt><dd><span class=meter><span style="width:{pct * 100:.0f}%"></span>'
                     f"</span> {pct * 100:.0f}%</dd>")
    if "can_auto_fix" in result:
        parts.append(f"<dt>Can auto-fix</dt><dd>{'yes' if result['can_auto_fix'] else 'no'}</dd>")
    return f'<dl class="answer">{"".join(parts)}</dl>' if parts else ""


def _tool_calls(calls: list[dict[str, Any]]) -> str:
    if not calls:
        return ""
    rows = "".join(
        f'<li class="{"ok" if c.get("ok") else "bad"}"><code>{e(c.get("name"))}</code> '
        f'<code class=args>{e(json.dumps(c.get("arguments"), separators=(",", ":")))}</code> '
        f'<span class=muted>{dur(c.get("durationSeconds"))}</span>'
        f'{"" if c.get("ok") else " <span class=error>" + e(c.get("error")) + "</span>"}</li>'
        for c in calls)
    return f'<ul class="tools">{rows}</ul>'


def _approval(run_id: str, step: dict[str, Any], waiting: bool) -> str:
    a = step.get("approval")
    if not a:
        return ""
    if waiting:
        return (f'<div class="approval" data-run="{e(run_id)}" data-step="{e(step["name"])}">'
                f'Waiting for approval until {short_time(a.get("expiresAt"))} '
                '<button class="approve" data-verb="approve">Approve</button> '
                '<button class="deny" data-verb="deny">Deny</button><span class=msg></span></div>')
    who = f" by {e(a.get('decidedBy'))}" if a.get("decidedBy") else ""
    return f'<div class="approval done">Approval: {e(a.get("decision") or "expired")}{who}</div>'


def _step(run_id: str, s: dict[str, Any], waiting: bool) -> str:
    result = s.get("result") or {}
    answer = _answer(result) if s["type"] == "agent" or "root_cause" in result else ""
    body = answer or (f'<pre class="result">{e(json.dumps(result, indent=2))}</pre>' if result else "")
    output = s.get("output") or ""
    if output and not answer:
        body += f'<details><summary>output</summary><pre>{e(output)}</pre></details>'
    if s.get("stderr"):
        body += f'<details><summary>stderr</summary><pre>{e(s["stderr"])}</pre></details>'
    usage = s.get("usage") or {}
    tokens = f' <span class=muted>{e(usage.get("total_tokens"))} tokens</span>' if usage else ""
    error = f'<p class="error">{e(s["error"])}</p>' if s.get("error") else ""
    return (f'<li class="step {PHASE_CLASS.get(s["phase"], "wait")}" data-step="{e(s["name"])}" '
            f'data-phase="{e(s["phase"])}"><div class=head><b>{e(s["name"])}</b> '
            f'<span class=type>{e(s["type"])}</span> {badge(s["phase"])} '
            f'<span class=muted>{dur(s.get("durationSeconds"))}</span>{tokens}</div>'
            f'{error}{_approval(run_id, s, waiting)}{_tool_calls(s.get("toolCalls") or [])}{body}</li>')


def run_fragment(run: dict[str, Any]) -> str:
    a = run.get("alert") or {}
    alert = ""
    if a:
        labels = "".join(f"<code>{e(k)}={e(v)}</code> " for k, v in sorted((a.get("labels") or {}).items()))
        alert = (f'<li class="step alert"><div class=head><b>Alert {e(a.get("alertname"))}</b> '
                 f'{badge(a.get("status") or "firing")} <span class=sev>{e(a.get("severity"))}</span></div>'
                 f'<p>{e(a.get("summary") or a.get("description") or "")}</p><p class=labels>{labels}</p></li>')
    waiting = set(run.get("awaitingApproval") or [])
    steps = "".join(_step(run["id"], s, s["name"] in waiting) for s in run["steps"])
    sinks = "".join(f'<li class="{PHASE_CLASS.get(d.get("phase", ""), "wait")}"><b>{e(name)}</b> '
                    f'<span class=type>{e(d.get("type"))}</span> {badge(d.get("phase"))} '
                    f'<span class=muted>{e(d.get("detail"))}</span></li>'
                    for name, d in sorted((run.get("sinks") or {}).items()))
    sink_block = f'<li class="step sinks"><div class=head><b>Sinks</b></div><ul>{sinks}</ul></li>' if sinks else ""
    outputs = "".join(f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in (run.get("outputs") or {}).items())
    error = f'<p class="error">{e(run["error"])}</p>' if run.get("error") else ""
    return (f'<section id=run data-phase="{e(run["phase"])}"><p class=meta>{badge(run["phase"])} '
            f'{e(run["workflow"])} · started {short_time(run["startTime"])} · {dur(run.get("durationSeconds"))}'
            f' · {e(run.get("tokens") or 0)} tokens</p>{error}'
            f'<ol class="timeline">{alert}{steps}{sink_block}</ol>'
            + (f'<h2>Outputs</h2><dl class="outputs">{outputs}</dl>' if outputs else "") + "</section>")


def run_page(run: dict[str, Any]) -> str:
    rid = run["id"]
    return page(f"Run {rid}", f'<h1>Run <code>{e(rid)}</code></h1><div id=fragment>{run_fragment(run)}</div>',
                stream=f"/api/v1/stream?run={rid}", fragment=f"/ui/fragments/runs/{rid}")


# --- alerts and resources ----------------------------------------------------------


def alerts_page(alerts: list[dict[str, Any]]) -> str:
    if not alerts:
        return page("Alerts", "<h1>Alerts</h1><p class=muted>No alerts seen.</p>", nav="alerts")
    rows = table(("Alert", "Status", "Source", "Firing since", "Resolved", "Seen", "Fingerprint"), (
        f'<tr><td>{e(a["alertname"])}</td><td>{badge(a["status"])}</td><td>{e(a["source"])}</td>'
        f'<td>{epoch(a["since"])}</td><td>{epoch(a["resolvedAt"])}</td><td>{e(a["count"])}</td>'
        f'<td><code>{e(a["fingerprint"][:12])}</code></td></tr>' for a in alerts))
    return page("Alerts", f"<h1>Alerts</h1>{rows}", nav="alerts")


def resources_page(groups: dict[str, list[dict[str, Any]]]) -> str:
    parts = ["<h1>Resources</h1>"]
    for kind, items in groups.items():
        parts.append(f"<h2>{e(kind)}</h2>")
        if not items:
            parts.append("<p class=muted>None applied.</p>")
            continue
        parts.append(table(("Name", "Type", "Ready", "Reason", "Message"), (
            f'<tr data-ready="{e(r["ready"])}"><td>{e(r["namespace"])}/{e(r["name"])}</td>'
            f'<td>{e(r["type"] or str(len(r["spec"].get("steps") or [])) + " steps")}</td>'
            f'<td>{ready_badge(r["ready"])}</td>'
            f'<td>{e(r["reason"] or "")}</td><td>{e(r["message"] or "")}</td></tr>' for r in items)))
    return page("Resources", "".join(parts), nav="resources")
