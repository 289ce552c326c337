"""The README's Performance tables from bench/results.json (or a file given), as Markdown.

    .venv/bin/python -m bench.readme_table [bench/results.json]

So the table in the README is the output of a real run, not typed in by hand.
"""

from __future__ import annotations

import json
import math
import sys
from pathlib import Path

FUNCTIONS = ("ingest", "step-cli", "step-agent", "sink", "reconciler")


def _n(value: float | None, digits: int = 0) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "n/a"
    return f"{value:,.{digits}f}"


def render(r: dict[str, float]) -> str:
    g = r.get
    rows = [
        ("1-alert webhooks, new", f"{_n(g('floor.single.rps'))} req/s",
         (f"{_n(g('ingest.single.alerts_per_s'))} req/s ({_n(g('ingest.single.ratio_to_floor'), 2)}x), "
         f"p99 {_n(g('ingest.single.p99_ms'))} ms"), "0.6x"),
        ("50-alert webhooks, new", f"{_n(g('floor.batch50.rps'))} req/s",
         (f"{_n(g('ingest.batch50.new_alerts_per_s'))} alerts/s, p50 {_n(g('ingest.batch50.new_p50_ms'))} ms, "
         f"p99 {_n(g('ingest.batch50.new_p99_ms'))} ms"), "2,000/s, p99 < 1 s"),
        ("50-alert webhooks, duplicates", "",
         (f"{_n(g('ingest.batch50.duplicate_alerts_per_s'))} alerts/s, "
         f"{_n(g('ingest.batch50.duplicate_non_2xx'))} non-2xx"), "20,000/s"),
        ("the same 50-alert webhook, one at a time", "", f"{_n(g('ingest.batch50.serial_duplicate_ms'), 1)} ms", ""),
        ("sweep, 50-alert new, 1 / 8 / 32 / 128 connections", "",
         " / ".join(_n(g(f"ingest.sweep.c{c}.new_alerts_per_s")) for c in (1, 8, 32, 128)) + " alerts/s",
         "128 >= 8"),
        ("ingest CPU per new / duplicate alert", "",
         f"{_n(g('ingest.cpu_ms_per_new_alert'), 3)} / {_n(g('ingest.cpu_ms_per_duplicate_alert'), 3)} ms",
         "0.25 / 0.03 ms"),
        ("Redis commands per new / duplicate alert (ingest)", "",
         f"{_n(g('ingest.redis_commands_per_new_alert'), 2)} / {_n(g('ingest.redis_commands_per_duplicate_alert'), 2)}",
         ""),
        ("dev broker alone, to a no-op subscriber", "",
         f"{_n(g('broker.events_per_s'))} events/s, {_n(g('broker.cpu_ms_per_event'), 2)} ms CPU each", ""),
        ("alert to run finished, 2 cli steps, one at a time", f"two spawns: {_n(g('e2e.floor_two_spawns_ms'), 1)} ms",
         f"p50 {_n(g('e2e.p50_ms'))} ms, p99 {_n(g('e2e.p99_ms'))} ms", "p50 15, p99 50 ms"),
        ("the same, 16 concurrent", "", f"p99 {_n(g('e2e.concurrent16.p99_ms'))} ms", "200 ms"),
        ("Redis commands per step (step-cli) / per run (all)", "",
         f"{_n(g('e2e.redis_commands_per_step'), 1)} / {_n(g('e2e.redis_commands_per_run_all'))}", ""),
        ("identical alerts at once", "", (f"{_n(g('dedupe.runs_started'))} run started "
         f"({_n(g('dedupe.webhooks'))} posted)"), "exactly 1"),
    ]
    out = ["| scenario | no-op func-python | cutman | target |", "|---|---|---|---|"]
    out += [f"| {a} | {b} | {c} | {d} |" for a, b, c, d in rows]
    out += ["", "| cold start | ready | x floor | first event | x floor | idle RSS |", "|---|---|---|---|---|---|",
            (f"| floor | {_n(g('coldstart.floor.ready_ms'))} ms | 1.00 | {_n(g('coldstart.floor.first_event_ms'))} ms "
            f"| 1.00 | {_n(g('coldstart.floor.rss_mb'))} MB |")]
    for f in FUNCTIONS:
        out.append(f"| {f} | {_n(g(f'coldstart.{f}.ready_ms'))} ms | {_n(g(f'coldstart.{f}.ratio_to_floor'), 2)} "
                   f"| {_n(g(f'coldstart.{f}.first_event_ms'))} ms | {_n(g(f'coldstart.{f}.first_event_ratio_to_floor'), 2)} "
                   f"| {_n(g(f'coldstart.{f}.rss_mb'))} MB |")
    return "\n".join(out)


def main(argv: list[str]) -> int:
    path = Path(argv[1]) if len(argv) > 1 else Path(__file__).with_name("results.json")
    print(render(json.loads(path.read_text())))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
