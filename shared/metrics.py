"""Prometheus metrics of every function (prometheus_client), and where they are served.

One registry per process, the metric families below, each incremented where the thing
happens exactly once: runs started when the run is created, runs finished when the
reconciler counts `run.finished` (a Lua marker makes redeliveries count nothing), step
durations around the executor, tokens and tool calls from the agent's outcome, sink
deliveries when a final record is written, dead letters in the dev broker, reconciles in
the reconciler, webhooks in ingest.

Serving: ingest is an HTTP function and answers `GET /metrics` on its own port. The
cloudevent functions' middleware (func-python) decodes every request on the main port as
a CloudEvent, so every function also serves its metrics on a second port,
`CUTMAN_METRICS_PORT` (deploy/knative sets 9464 and the Prometheus scrape annotations;
0 or unset: off). Prometheus scrapes the pod there, past Knative's queue-proxy, so a
scrape is not a request: it neither keeps a function from scaling to zero nor counts in
its concurrency.

Labels are bounded: workflow and sink names come from applied CRs, step and sink types
from enums. Tool names come from the model's calls, which name the workflow's tools but
may name any tool at all (an alert's text can steer a model), so at most
`TOOL_LABELS_MAX` names get a series of their own and every later one counts as `other`.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    REGISTRY,
    Counter,
    Histogram,
    disable_created_metrics,
    generate_latest,
    start_http_server,
)

logger = logging.getLogger("cutman.metrics")
disable_created_metrics()  # type: ignore[no-untyped-call]  # no `_created` series: half the lines, no use
CONTENT_TYPE = CONTENT_TYPE_LATEST
STEP_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0)
REQUEST_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

RUNS_STARTED = Counter("cutman_runs_started", "Runs started, by workflow.", ["workflow"])
RUNS_FINISHED = Counter("cutman_runs_finished", "Runs finished, by workflow and phase.", ["workflow", "phase"])
STEP_DURATION = Histogram("cutman_step_duration_seconds", "Time a step's executor ran, by step type and outcome.",
                          ["type", "phase"], buckets=STEP_BUCKETS)
AGENT_TOKENS = Counter("cutman_agent_tokens", "Model tokens agent steps used, by workflow and kind.",
                       ["workflow", "kind"])
TOOL_CALLS = Counter("cutman_agent_tool_calls", "Tool calls of agent steps, by tool and outcome.", ["tool", "outcome"])
SINK_DELIVERIES = Counter("cutman_sink_deliveries", "Sink deliveries that reached a final state, by type and phase.",
                          ["type", "phase"])
SINK_FAILURES = Counter("cutman_sink_failures", "Sink deliveries that failed or will be retried, by type.", ["type"])
DEAD_LETTERS = Counter("cutman_dead_letters", "Events dead-lettered after their retries, by event type.", ["type"])
RECONCILES = Counter("cutman_reconciles", "Resources reconciled, by kind and result.", ["kind", "result"])

WEBHOOKS = Counter("cutman_ingest_webhooks", "Webhook requests answered, by HTTP status code.", ["code"])
ALERTS = Counter("cutman_ingest_alerts", "Alerts received, by source and dedupe decision (or filtered).",
                 ["source", "decision"])
DUPLICATES = Counter("cutman_ingest_duplicates", "Firing alerts that were already active (counted, not emitted).",
                     ["source"])
EVENTS = Counter("cutman_ingest_events", "Events handed to the broker, by source and type.", ["source", "type"])
REJECTIONS = Counter("cutman_ingest_rejections", "Requests refused, by reason.", ["reason"])
REQUEST_DURATION = Histogram("cutman_ingest_request_duration_seconds", "Time from request to answer.",
                             buckets=REQUEST_BUCKETS)

TOOL_LABELS_MAX = 64
_tool_labels: set[str] = set()

FINAL_SINK_PHASES = ("Delivered", "Skipped", "Failed", "Unknown")
FAILED_SINK_PHASES = ("Failed", "Retrying", "Unknown")


def render() -> bytes:
    return generate_latest(REGISTRY)


def serve(cfg: Mapping[str, str]) -> int | None:
    """Start the metrics port (`CUTMAN_METRICS_PORT`) once per process; its port, or None."""
    global _serving
    raw = cfg.get("CUTMAN_METRICS_PORT", "").strip()
    if not raw or raw == "0":
        return None
    if _serving is not None:
        return _serving
    try:
        port = int(raw)
    except ValueError:
        logger.warning("CUTMAN_METRICS_PORT is not a port number; metrics port off",
                       extra={"fields": {"value": raw[:20]}})
        return None
    addr = cfg.get("CUTMAN_METRICS_ADDRESS", "0.0.0.0")
    try:
        start_http_server(port, addr=addr)
    except OSError as exc:
        logger.warning("metrics port not served", extra={"fields": {"port": port, "reason": exc.strerror}})
        return None
    _serving = port
    logger.info("metrics served", extra={"fields": {"port": port, "path": "/metrics"}})
    return port


_serving: int | None = None


def step_done(*, step_type: str, phase: str, seconds: float, workflow: str,
              usage: Mapping[str, int] | None, tool_calls: Iterable[Mapping[str, Any]]) -> None:
    STEP_DURATION.labels(step_type, phase).observe(seconds)
    for kind in ("prompt_tokens", "completion_tokens"):
        n = int((usage or {}).get(kind, 0) or 0)
        if n:
            AGENT_TOKENS.labels(workflow, kind.split("_", 1)[0]).inc(n)
    for call in tool_calls:
        TOOL_CALLS.labels(_tool_label(str(call.get("name", ""))), "ok" if call.get("ok") else "error").inc()


def _tool_label(name: str) -> str:
    if name not in _tool_labels and len(_tool_labels) >= TOOL_LABELS_MAX:
        return "other"
    _tool_labels.add(name)
    return name


def sink_record(record: Mapping[str, Any]) -> None:
    """A delivery record was written: count final phases and failures (Sending is neither)."""
    kind, phase = str(record.get("type", "")), str(record.get("phase", ""))
    if phase in FINAL_SINK_PHASES:
        SINK_DELIVERIES.labels(kind, phase).inc()
    if phase in FAILED_SINK_PHASES:
        SINK_FAILURES.labels(kind).inc()
