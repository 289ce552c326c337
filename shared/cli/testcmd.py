"""`cutman test -f workflow.yaml --alert alert.json`: run a workflow offline and say if it works.

No broker, no Redis, no cluster (cutman.runtime.offline): cli steps run (or, with
`--dry-run`, show the script and values they would run), agent steps answer from
`--llm-answers` (or ask the workflow's real endpoint), Sinks are rendered and shown,
never sent. Prints each step as it ends, the outputs, then each Sink's request.

Exit code: without `--expect`, 0 when the run succeeded; with `--expect PATH=VALUE`
(`outputs.summary=...`, `steps.gather.result.pod=web-1`, `steps.boom.phase=Failed`,
`phase=Failed`), 0 when every expectation holds, so a failing workflow can be a test too.
Usage errors (a bad file, no firing alert) exit 2.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from pathlib import Path
from typing import Any

from ..errors import BadRequest
from ..models.manifests import ManifestError
from ..models.run import Run
from ..runtime.offline import Bundle, Offline, alerts_of, bundle, show_sink
from ..runtime.views import duration_text, run_view
from .apply import read_inputs


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    p = sub.add_parser("test", help="run a workflow offline for an alert, without broker, Redis or cluster",
                       description=__doc__.split("\n\n")[1] if __doc__ else None)
    p.add_argument("-f", "--filename", action="append", required=True,
                   help="file or folder with the Workflow (and its Sinks, Source, Secrets), or - for stdin")
    p.add_argument("--alert", required=True, help="Alertmanager webhook body (or one alert) as JSON")
    p.add_argument("--workflow", help="which Workflow, when the files hold several")
    p.add_argument("--llm-answers", help="JSON file: agent step name -> its answer (or a list of turns)")
    p.add_argument("--dry-run", action="store_true", help="do not run cli steps; show what they would run")
    p.add_argument("--deny", action="store_true", help="deny steps that need approval (default: approve them)")
    p.add_argument("--expect", action="append", default=[], metavar="PATH=VALUE",
                   help="assert a value of the finished run, e.g. outputs.summary=ok or steps.x.phase=Failed")
    p.add_argument("-o", "--output", choices=["text", "json"], default="text",
                   help="text (default) or the finished run as JSON")
    p.set_defaults(func=main)


def _path(run: dict[str, Any], path: str) -> Any:
    cur: Any = run
    steps = {s["name"]: s for s in run["steps"]}
    parts = path.split(".")
    if parts[0] == "steps" and len(parts) > 1:
        cur, parts = steps.get(parts[1]), parts[2:]
    for p in parts:
        if not isinstance(cur, dict) or p not in cur:
            return None
        cur = cur[p]
    return cur


def check(view: dict[str, Any], expectations: list[str]) -> list[tuple[str, bool, Any]]:
    out = []
    for text in expectations:
        path, sep, want = text.partition("=")
        if not sep or not path:
            raise BadRequest(f"--expect {text!r}: expected PATH=VALUE", field="expect")
        got = _path(view, path.strip())
        shown = got if isinstance(got, str) else json.dumps(got)
        out.append((text, shown == want or (got is None and want == ""), got))
    return out


class _Progress:
    """Prints each step once it ends (skipped ones too), names aligned."""

    def __init__(self, dry_run: bool = False) -> None:
        self.shown: set[str] = set()
        self.dry_run = dry_run

    def __call__(self, run: Run, _step: str) -> None:
        width = max(len(s.name) for s in run.steps)
        view = {v["name"]: v for v in run_view(run)["steps"]}
        for s in run.steps:
            if s.name in self.shown or not (s.phase.done or s.phase.value == "AwaitingApproval"):
                continue
            if s.phase.done:
                self.shown.add(s.name)
            line = f"  {s.name.ljust(width)}  {s.phase.value}"
            if s.phase.done and view[s.name]["durationSeconds"] is not None:
                line += f"  {duration_text(view[s.name]['durationSeconds'])}"
            if s.error:
                line += f"  {s.error}"
            if s.phase.value == "AwaitingApproval":
                line += "  (answered by cutman test: --deny denies)"
            print(line, flush=True)
            if self.dry_run and s.type.value == "cli" and s.output.startswith("(dry run"):
                for text in s.output.splitlines()[1:]:
                    print(f"    {text}", flush=True)


async def _run(args: argparse.Namespace) -> int:
    files: Bundle = await bundle(read_inputs(args.filename))
    wf = files.workflow(args.workflow)
    source = files.source_for(wf)
    try:
        alert_doc = json.loads(Path(args.alert).read_text())
    except (OSError, ValueError) as exc:
        raise BadRequest(f"--alert {args.alert}: {exc}", field="alert") from None
    answers = None
    if args.llm_answers:
        try:
            answers = json.loads(Path(args.llm_answers).read_text())
        except (OSError, ValueError) as exc:
            raise BadRequest(f"--llm-answers {args.llm_answers}: {exc}", field="llm-answers") from None
        if not isinstance(answers, dict):
            raise BadRequest("--llm-answers must be a JSON object: step name -> answer", field="llm-answers")
    text = args.output == "text"
    runner = Offline(files, dry_run=args.dry_run, llm_answers=answers, approve=not args.deny,
                     on_step=_Progress(args.dry_run) if text else (lambda run, step: None))
    results: list[bool] = []
    views = []
    for start in alerts_of(alert_doc, source):
        name = start.alert.get("alertname") or "alert"
        if start.filtered_by:
            print(f"alert {name}: not started, Source {source.metadata.name if source else ''} "
                  f"{start.filtered_by} do not match it")
            results.append(False)
            continue
        if text:
            print(f"run of {wf.metadata.namespace}/{wf.metadata.name} for alert {name}"
                  + (" (dry run: cli steps not run)" if args.dry_run else ""), flush=True)
        run = await runner.run(wf, start.alert, source)
        view = run_view(run)
        if text:
            print(f"{run.phase.value} in {duration_text(view['durationSeconds'])}"
                  + (f": {run.error}" if run.error else ""))
            for k, v in run.outputs.items():
                print(f"  outputs.{k}: {v}")
        for sink_name in run.spec.sinks:
            sink = files.sinks.get(f"{wf.metadata.namespace}/{sink_name}")
            if sink is None:
                if text:
                    print(f"sink {sink_name}: not in the files given, not shown")
                continue
            shown = await show_sink(run, sink, files.secrets)
            view.setdefault("sinkPreviews", {})[sink_name] = {"type": shown.type, "outcome": shown.outcome,
                                                            "requests": shown.requests}
            if text:
                print(f"sink {sink_name} ({shown.type}): {shown.outcome}")
                for req in shown.requests:
                    print("  " + req.replace("\n", "\n  "))
        ok = run.phase.value == "Succeeded"
        if args.expect:
            verdicts = check(view, args.expect)
            for expectation, held, got in verdicts:
                if text:
                    print(f"expect {expectation}: " + ("ok" if held else f"FAILED (got {json.dumps(got)})"))
            ok = all(held for _, held, _ in verdicts)
            view["expectations"] = [{"expect": e, "ok": h} for e, h, _ in verdicts]
        results.append(ok)
        views.append(view)
    if not text:
        print(json.dumps(views[0] if len(views) == 1 else views, indent=2, default=str))
    return 0 if results and all(results) else 1


def main(args: argparse.Namespace) -> int:
    try:
        return asyncio.run(_run(args))
    except (BadRequest, ManifestError) as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
