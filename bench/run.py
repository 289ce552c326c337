"""cutman's benchmark: every scenario of issue 12 in one run, a table, bench/results.json.

    .venv/bin/python -m bench.run            # make bench: full (about 10 minutes)
    .venv/bin/python -m bench.run --quick    # make bench-quick: shorter runs (under 3 minutes)
    .venv/bin/python -m bench.run --only ingest,broker

Scenarios (each module's docstring says how it measures): ingest (wrk against `cutman
dev` beside a no-op func-python function, concurrency sweep, CPU and Redis commands per
alert), broker (the dev broker alone), e2e (alert to run finished, two cli steps, serial
and 16 concurrent, Redis commands per step), dedupe (10,000 identical alerts at once),
coldstart (per function). Figures are printed and written as one flat JSON object.
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import shutil
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from cutman.runtime.redis_server import free_port

from . import broker, cold_start, common, e2e, ingest
from .common import BENCH, Stack, local_stack, spawn_floor, stop

SCENARIOS = ("ingest", "broker", "e2e", "dedupe", "coldstart")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.run")
    p.add_argument("--quick", action="store_true", help="shorter runs (make bench-quick)")
    p.add_argument("--only", default=",".join(SCENARIOS), help="comma-separated scenarios")
    p.add_argument("--out", type=Path, default=BENCH / "results.json")
    p.add_argument("--profile", type=Path, help="py-spy profiles of ingest and the broker into this folder")
    args = p.parse_args(argv)
    common.PROFILE_DIR = args.profile
    only = set(args.only.split(","))
    if shutil.which("wrk") is None:
        print("wrk is missing: make bench installs it (Debian package wrk)", file=sys.stderr)
        return 1
    seconds = 4.0 if args.quick else 10.0
    results: dict[str, float | str] = {
        "meta.quick": float(args.quick), "meta.started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "meta.python": platform.python_version(), "meta.loadavg_1m": _loadavg(),
    }
    figures: dict[str, float] = {}
    started = time.monotonic()
    failed: list[str] = []

    def scenario(name: str, fn: Callable[[], None]) -> None:
        """Run one scenario; a failure is reported and the others still run."""
        if name not in only:
            return
        try:
            fn()
        except Exception as exc:  # noqa: BLE001 (reported; the figure stays missing, never invented)
            failed.append(name)
            traceback.print_exc()
            print(f"  {name} FAILED: {type(exc).__name__}: {exc}", file=sys.stderr, flush=True)
        else:
            print(f"  {name} done ({time.monotonic() - started:.0f} s)", file=sys.stderr, flush=True)

    if only & {"ingest", "e2e", "dedupe"}:
        with local_stack() as stack:
            scenario("ingest", lambda: _ingest(stack, seconds, figures))
            scenario("e2e", lambda: figures.update(e2e.run(stack, serial=50 if args.quick else 200,
                                                            concurrent_alerts=64 if args.quick else 320)))
            scenario("dedupe", lambda: figures.update(e2e.dedupe(stack, n=2_000 if args.quick else 10_000)))
    scenario("broker", lambda: figures.update(broker.run(seconds=seconds)))
    scenario("coldstart", lambda: figures.update(cold_start.run(runs=1 if args.quick else 5)))
    results["meta.failed"] = ",".join(failed)
    results.update(figures)
    results["meta.seconds"] = round(time.monotonic() - started, 1)
    results["meta.loadavg_1m_end"] = _loadavg()
    clean = {k: (round(v, 3) if isinstance(v, float) and math.isfinite(v) else v) for k, v in results.items()}
    args.out.write_text(json.dumps(clean, indent=1, sort_keys=True) + "\n")
    print(table(figures))
    print(f"\nwritten to {args.out} ({results['meta.seconds']} s; load average "
          f"{results['meta.loadavg_1m']} at start, {results['meta.loadavg_1m_end']} at end)")
    return 1 if failed else 0


def _ingest(stack: Stack, seconds: float, figures: dict[str, float]) -> None:
    port = free_port()
    floor = spawn_floor(port)
    try:
        ingest.run(stack, f"http://127.0.0.1:{port}/", seconds=seconds, out=figures)
    finally:
        stop(floor)


def _loadavg() -> float:
    return float(Path("/proc/loadavg").read_text().split()[0])


ROWS: list[tuple[str, str, str]] = [
    # label, key, unit
    ("floor: no-op func-python, 1-alert bodies", "floor.single.rps", "req/s"),
    ("floor: no-op func-python, 50-alert bodies", "floor.batch50.rps", "req/s"),
    ("1-alert webhooks, new", "ingest.single.alerts_per_s", "alerts/s"),
    ("  ratio to the floor", "ingest.single.ratio_to_floor", "x"),
    ("  p99", "ingest.single.p99_ms", "ms"),
    ("50-alert webhooks, new", "ingest.batch50.new_alerts_per_s", "alerts/s"),
    ("  p50", "ingest.batch50.new_p50_ms", "ms"),
    ("  p99", "ingest.batch50.new_p99_ms", "ms"),
    ("50-alert webhooks, duplicates", "ingest.batch50.duplicate_alerts_per_s", "alerts/s"),
    ("  non-2xx", "ingest.batch50.duplicate_non_2xx", ""),
    ("the same 50-alert webhook, one at a time", "ingest.batch50.serial_duplicate_ms", "ms"),
    ("a new 50-alert webhook, one at a time", "ingest.batch50.serial_new_ms", "ms"),
    ("sweep, 50-alert new, 1 connection", "ingest.sweep.c1.new_alerts_per_s", "alerts/s"),
    ("sweep, 8 connections", "ingest.sweep.c8.new_alerts_per_s", "alerts/s"),
    ("sweep, 32 connections", "ingest.sweep.c32.new_alerts_per_s", "alerts/s"),
    ("sweep, 128 connections", "ingest.sweep.c128.new_alerts_per_s", "alerts/s"),
    ("  128 over 8", "ingest.sweep.c128_over_c8", "x"),
    ("  p99 at 128", "ingest.sweep.c128.p99_ms", "ms"),
    ("ingest CPU per new alert", "ingest.cpu_ms_per_new_alert", "ms"),
    ("ingest CPU per duplicate alert", "ingest.cpu_ms_per_duplicate_alert", "ms"),
    ("ingest CPU per 1-alert webhook", "ingest.single.cpu_ms_per_alert", "ms"),
    ("Redis commands per new alert (ingest)", "ingest.redis_commands_per_new_alert", ""),
    ("Redis commands per duplicate alert (ingest)", "ingest.redis_commands_per_duplicate_alert", ""),
    ("dev broker alone, events/s to a no-op subscriber", "broker.events_per_s", "events/s"),
    ("  broker CPU per event", "broker.cpu_ms_per_event", "ms"),
    ("alert to run finished (2 cli steps), p50", "e2e.p50_ms", "ms"),
    ("  p99", "e2e.p99_ms", "ms"),
    ("  floor: two sh -c true spawns", "e2e.floor_two_spawns_ms", "ms"),
    ("  16 concurrent, p50", "e2e.concurrent16.p50_ms", "ms"),
    ("  16 concurrent, p99", "e2e.concurrent16.p99_ms", "ms"),
    ("Redis commands per step (step-cli)", "e2e.redis_commands_per_step", ""),
    ("Redis commands per run, all processes", "e2e.redis_commands_per_run_all", ""),
    ("dedupe: identical alerts at once (count below), runs started", "dedupe.runs_started", ""),
    ("  identical alerts posted", "dedupe.webhooks", ""),
]


def table(f: dict[str, float]) -> str:
    lines = [f"{'scenario':<52} {'value':>12}  unit"]
    for label, key, unit in ROWS:
        if key in f:
            lines.append(f"{label:<52} {_fmt(f[key]):>12}  {unit}")
    cold = sorted({k.split(".")[1] for k in f if k.startswith("coldstart.")})
    if cold:
        lines.append("")
        lines.append(f"{'cold start':<12} {'ready ms':>9} {'x floor':>8} {'1st event ms':>13} {'x floor':>8}"
                     f" {'RSS MB':>7}  heaviest imports (ms)")
        for name in ["floor", *[c for c in cold if c != "floor"]]:
            k = f"coldstart.{name}."
            if k + "ready_ms" not in f:
                continue
            imports = sorted(((m[len(k) + 10:], v) for m, v in f.items() if m.startswith(k + "import_ms.")),
                             key=lambda x: -x[1])[:3]
            lines.append(f"{name:<12} {f[k + 'ready_ms']:>9.0f} {f.get(k + 'ratio_to_floor', 1.0):>8.2f}"
                         f" {f[k + 'first_event_ms']:>13.0f} {f.get(k + 'first_event_ratio_to_floor', 1.0):>8.2f}"
                         f" {f[k + 'rss_mb']:>7.1f}  " + ", ".join(f"{m} {v:.0f}" for m, v in imports))
    return "\n".join(lines)


def _fmt(v: float) -> str:
    if not math.isfinite(v):
        return "n/a"
    if abs(v) >= 100:
        return f"{v:,.0f}"
    return f"{v:.3g}" if abs(v) < 1 else f"{v:.2f}"


if __name__ == "__main__":
    raise SystemExit(main())
