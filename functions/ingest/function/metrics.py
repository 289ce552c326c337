"""Ingest's Prometheus metrics, exposed at GET /metrics in the text format (0.0.4).

Hand-written instead of prometheus_client: five metric families do not justify a
dependency, and keeping them in one object per process makes them easy to test.
Labels are bounded on purpose: source keys come from configured Sources (unknown paths
are counted under `source=""`), reasons from the error hierarchy.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field

BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"

Labels = tuple[tuple[str, str], ...]
HELP = {
    "cutman_ingest_webhooks_total": "Webhook requests answered, by HTTP status code.",
    "cutman_ingest_alerts_total": "Alerts received, by source and dedupe decision (or filtered).",
    "cutman_ingest_duplicates_total": "Firing alerts that were already active (counted, not emitted).",
    "cutman_ingest_events_total": "Events handed to the broker, by source and type.",
    "cutman_ingest_rejections_total": "Requests refused, by reason.",
}


def _fmt(labels: Labels) -> str:
    if not labels:
        return ""
    inner = ",".join(
        f'{k}="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34)).replace(chr(10), chr(92) + "n")}"'
        for k, v in labels
    )
    return "{" + inner + "}"


@dataclass
class Metrics:
    counters: dict[str, dict[Labels, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))
    buckets: list[int] = field(default_factory=lambda: [0] * len(BUCKETS))
    latency_sum: float = 0.0
    latency_count: int = 0

    def inc(self, name: str, value: float = 1.0, **labels: str) -> None:
        if value:
            self.counters[name][tuple(sorted(labels.items()))] += value

    def observe(self, seconds: float) -> None:
        for i, bound in enumerate(BUCKETS):
            if seconds <= bound:
                self.buckets[i] += 1
        self.latency_sum += seconds
        self.latency_count += 1

    def render(self) -> str:
        lines: list[str] = []
        for name, help_text in HELP.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} counter"]
            for labels, value in sorted(self.counters.get(name, {}).items()):
                lines.append(f"{name}{_fmt(labels)} {value:g}")
        hist = "cutman_ingest_request_duration_seconds"
        lines += [f"# HELP {hist} Time from request to answer.", f"# TYPE {hist} histogram"]
        for bound, count in zip(BUCKETS, self.buckets):
            lines.append(f'{hist}_bucket{{le="{bound:g}"}} {count}')
        lines.append(f'{hist}_bucket{{le="+Inf"}} {self.latency_count}')
        lines.append(f"{hist}_sum {self.latency_sum:.6f}")
        lines.append(f"{hist}_count {self.latency_count}")
        return "\n".join(lines) + "\n"
