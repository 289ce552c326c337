"""One workflow run on one machine, without broker, Redis or cluster (`cutman test`).

The same decisions and the same step code as in production: the pure engine
(cutman.core.engine) says what happens next, step-cli's `CliExecutor` and step-agent's
`AgentExecutor` run the steps, the sink plugins build what they would send.

Why the run is held in memory rather than in an in-process `Store`: what the step
functions keep in Redis (leases, recorded next-step decisions, run ids keyed by event,
outboxes) exists to make each delivery idempotent under at-least-once delivery through
a broker. Offline there is one process, one run and no delivery, so the loop below asks
the engine directly, as `StepHost.run_step` does between its store calls; a full
in-memory Store (eight concepts, Lua-atomic dedupe and leases) would be a second
implementation of those guarantees that nothing here exercises. Secrets are the one
port the steps and sinks read, and they get a real in-memory `SecretStore`.

Sinks are rendered, never sent: each plugin delivers over an HTTP client whose transport
records the request and answers 200, so what is shown is exactly the request it would
make (method, URL, body; secret headers masked). The s3 sink talks to AWS through boto3,
not that client, so it is described instead of called. Chained workflows (`workflow`
sinks) show the event they would emit.
"""

from __future__ import annotations

import contextlib
import importlib
import io
import json
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import httpx

from .. import clock
from ..agent.llm import LLM, Reply, ToolCall
from ..core import engine, ids
from ..core.alerts import fingerprint, passes_filters
from ..core.context import build_context
from ..core.masking import mask_text
from ..core.matchers import matches_all, parse_matchers
from ..core.shellsafe import command_env, compile_command
from ..core.templating import TemplateError, is_truthy, render
from ..errors import BadRequest, CutmanError
from ..models.alert import Alert, AMWebhook
from ..models.events import EventType
from ..models.manifests import Document, parse_resource
from ..models.resources import Sink, SinkType, Source, Step, StepType, Workflow
from ..models.run import Decision, Run, StepPhase
from ..models.secret import is_namespace, is_secret, secret_data
from ..sinks.base import Delivery, Ports, SinkEvent, Skip
from ..sinks.registry import plugin_for
from ..sinks.secrets import StoreSecrets
from ..stephost import MissingSecret, StepSecrets, masked, resolve_secrets
from .loader import load

APPROVER = "cutman test"


class MemorySecrets:
    """The `SecretStore` port in memory: the Secret documents given to `cutman test`."""

    def __init__(self) -> None:
        self._data: dict[str, dict[str, str]] = {}

    async def put_secret(self, key: str, data: dict[str, str]) -> None:
        self._data[key] = dict(data)

    async def delete_secret(self, key: str) -> None:
        self._data.pop(key, None)

    async def get_secret(self, key: str) -> dict[str, str] | None:
        data = self._data.get(key)
        return dict(data) if data else None

    async def secret_values(self) -> list[str]:
        return [v for d in self._data.values() for v in d.values()]


@dataclass
class Bundle:
    """What the files given hold: one Workflow, its Sinks and Sources, Secrets."""

    workflows: list[Workflow] = field(default_factory=list)
    sinks: dict[str, Sink] = field(default_factory=dict)
    sources: list[Source] = field(default_factory=list)
    secrets: MemorySecrets = field(default_factory=MemorySecrets)

    def workflow(self, name: str | None) -> Workflow:
        if name:
            found = [w for w in self.workflows if w.metadata.name == name]
            if not found:
                raise BadRequest(f"no Workflow named {name!r} in the files given", field="workflow")
            return found[0]
        if len(self.workflows) != 1:
            names = ", ".join(w.metadata.name for w in self.workflows) or "none"
            raise BadRequest(f"the files hold {len(self.workflows)} Workflows ({names}); pick one with --workflow",
                             field="workflow")
        return self.workflows[0]

    def source_for(self, wf: Workflow) -> Source | None:
        for src in self.sources:
            if src.spec.trigger_workflow == wf.metadata.name and src.metadata.namespace == wf.metadata.namespace:
                return src
        return None


async def bundle(docs: Sequence[Document]) -> Bundle:
    out = Bundle()
    for doc in docs:
        if is_namespace(doc.body):
            continue
        if is_secret(doc.body):
            meta = doc.body.get("metadata") or {}
            await out.secrets.put_secret(f"{meta.get('namespace', 'default')}/{meta.get('name')}",
                                         secret_data(doc.body, where=doc.where))
            continue
        res = parse_resource(doc.body, where=doc.where)
        checks = importlib.import_module(load("reconciler").__name__ + ".checks")
        try:
            checks.check_resource(res)
        except CutmanError as exc:
            raise BadRequest(f"{doc.where}: {exc.message}") from None
        if isinstance(res, Workflow):
            out.workflows.append(res)
        elif isinstance(res, Sink):
            out.sinks[f"{res.metadata.namespace}/{res.metadata.name}"] = res
        else:
            out.sources.append(res)
    return out


@dataclass(frozen=True)
class StartEvent:
    alert: dict[str, Any]
    filtered_by: str | None = None


def alerts_of(doc: Any, source: Source | None) -> list[StartEvent]:
    """The firing alerts of an Alertmanager webhook body (or of one alert object), each
    with the event data ingest would emit, and whether the Source's filters let it in."""
    if isinstance(doc, dict) and "alerts" not in doc and "labels" in doc:
        doc = {"version": "4", "status": doc.get("status", "firing"), "alerts": [{"status": "firing", **doc}]}
    try:
        payload = AMWebhook.model_validate(doc)
    except ValueError as exc:
        raise BadRequest(f"--alert: not an Alertmanager webhook body or alert: {exc}", field="alert") from None
    group = payload.model_dump(mode="json", exclude={"alerts"}, exclude_none=True)
    cfg = source.spec.config if source else None
    matchers = parse_matchers(cfg.matchers) if cfg else ()
    out = []
    for am in payload.alerts:
        if am.status != "firing":
            continue
        data = {**Alert.from_am(am, fingerprint=fingerprint(am.labels)).data(), "group": group}
        why = None
        if cfg and not passes_filters(am.labels, cfg.filters):
            why = "filters"
        elif cfg and not matches_all(am.labels, matchers):
            why = "matchers"
        out.append(StartEvent(data, why))
    if not out:
        raise BadRequest("--alert holds no firing alert", field="alert")
    return out


class ScriptedLLM:
    """The `LLM` port from an answers file: per step, the turns a model would reply.

    A step's entry is its final answer (a JSON object), or a list of turns, each
    `{"answer": {...}}` or `{"toolCalls": [{"name": "kubectl", "arguments": {...}}]}`;
    the tools called run for real. Past the last turn the last one repeats.
    """

    def __init__(self, turns: list[dict[str, Any]]) -> None:
        self.turns = turns
        self.i = 0

    async def chat(self, *, messages: list[dict[str, Any]], tools: list[dict[str, Any]],
                   force_answer: bool, max_tokens: int | None, timeout_s: float) -> Reply:
        turn = self.turns[min(self.i, len(self.turns) - 1)]
        self.i += 1
        calls = tuple(ToolCall(f"call_{self.i}_{n}", str(c["name"]), json.dumps(c.get("arguments") or {}))
                      for n, c in enumerate(turn.get("toolCalls") or []))
        if calls and not force_answer:
            return Reply(None, calls, 0, 0)
        answer = turn.get("answer", turn if "toolCalls" not in turn else {})
        return Reply(answer if isinstance(answer, str) else json.dumps(answer), (), 0, 0)

    async def close(self) -> None:
        return None


def scripted(answers: Mapping[str, Any]) -> Callable[..., LLM]:
    def factory(*, step: Step, endpoint: str, model: str, api_key: str | None) -> LLM:
        entry = answers.get(step.name)
        if entry is None:
            raise BadRequest(f"--llm-answers has no answer for agent step {step.name!r}", field="llm-answers")
        return ScriptedLLM(entry if isinstance(entry, list) else [{"answer": entry}])
    return factory


class DryRunCli:
    """cli steps shown, not run: the script as the shell would get it and each value."""

    step_type = StepType.CLI

    def configure(self, cfg: Mapping[str, str]) -> None:
        return None

    async def execute(self, *, run: Run, step: Step, secrets: StepSecrets) -> engine.Outcome:
        context = build_context(run)
        try:
            if step.args:
                shown = "argv: " + json.dumps([render(a, context) for a in step.args])
            else:
                compiled = compile_command(step.command or "")
                env = command_env(compiled, context)
                shown = compiled.script.rstrip("\n") + "".join(f"\n  {k}={json.dumps(v)}" for k, v in env.items())
        except TemplateError as exc:
            return engine.Outcome(StepPhase.FAILED, error=f"template: {exc.message}")
        return engine.Outcome(StepPhase.SUCCEEDED, output=f"(dry run: not run)\n{shown}\n", exit_code=0)


@dataclass
class SinkShown:
    name: str
    type: str
    outcome: str
    requests: list[str] = field(default_factory=list)


# Shown as `***` whatever they hold: a plugin may build them from a Secret's values (Jira's
# Basic base64(email:token)), a form that masking the values themselves cannot catch.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization"})


def _recorder(shown: list[str], secrets: StoreSecrets) -> httpx.AsyncClient:
    def handle(request: httpx.Request) -> httpx.Response:
        headers = {k: "***" if k.lower() in CREDENTIAL_HEADERS else v for k, v in request.headers.items()
                   if k.lower() not in ("host", "content-length", "user-agent", "accept", "accept-encoding",
                                        "connection")}
        body = request.content.decode("utf-8", "replace")
        try:
            body = json.dumps(json.loads(body), indent=2)
        except ValueError:
            pass
        text = f"{request.method} {request.url}\n" + "".join(f"{k}: {v}\n" for k, v in headers.items()) + body
        shown.append(mask_text(text, secrets.seen))
        return httpx.Response(200, json={"ok": True, "ts": "0.0", "key": "TEST-1", "id": "1", "status": "success"})

    return httpx.AsyncClient(transport=httpx.MockTransport(handle))


class _State:
    def __init__(self) -> None:
        self.values: dict[str, str] = {}

    async def get(self, key: str) -> str | None:
        return self.values.get(key)

    async def put(self, key: str, value: str) -> None:
        self.values[key] = value


async def show_sink(run: Run, sink: Sink, secrets: MemorySecrets) -> SinkShown:
    name, ns = sink.metadata.name, sink.metadata.namespace
    spec = sink.spec
    out = SinkShown(name, spec.type.value, "")
    context = build_context(run)
    context["sink"] = {"name": name, "namespace": ns, "context": dict(spec.params.context)}
    try:
        if spec.condition and not is_truthy(render(spec.condition, context)):
            out.outcome = "skipped: condition is false"
            return out
    except TemplateError as exc:
        out.outcome = f"failed: spec.condition: {exc.message}"
        return out
    if spec.type is SinkType.S3:
        out.outcome = f"not sent: s3 puts the run report in bucket {getattr(spec.params, 'bucket', '?')}"
        return out
    store_secrets = StoreSecrets(secrets, ns)
    events: list[Any] = []
    printed = io.StringIO()
    async with _recorder(out.requests, store_secrets) as http:
        ports = Ports(http=http, secrets=store_secrets, state=_State(), emit=events.append,
                      settings={"CUTMAN_PUBLIC_URL": ""})
        delivery = Delivery(sink=f"{ns}/{name}", run=run, params=spec.params, context=context,
                            event=SinkEvent.FINISHED)
        try:
            with contextlib.redirect_stdout(printed):
                detail = await plugin_for(spec.type).deliver(delivery, ports)
            out.outcome = f"rendered, not sent ({detail})"
        except Skip as skip:
            out.outcome = f"skipped: {skip.reason}"
        except (CutmanError, TemplateError) as exc:
            out.outcome = f"failed: {mask_text(exc.message, store_secrets.seen)}"
    if printed.getvalue():
        out.requests.append("stdout: " + printed.getvalue().rstrip("\n"))
    for event in events:
        out.requests.append(f"event {event.get_type()} {json.dumps(event.get_data(), default=str)[:300]}")
    return out


@dataclass
class Offline:
    """Runs one workflow for one alert, step by step, with the production executors."""

    bundle: Bundle
    dry_run: bool = False
    llm_answers: Mapping[str, Any] | None = None
    approve: bool = True
    on_step: Callable[[Run, str], None] = lambda run, step: None

    def _executor(self, step_type: StepType) -> Any:
        if step_type is StepType.CLI:
            if self.dry_run:
                return DryRunCli()
            return importlib.import_module(load("step-cli").__name__ + ".runner").CliExecutor()
        agent = importlib.import_module(load("step-agent").__name__ + ".agent")
        if self.llm_answers is not None:
            return agent.AgentExecutor(llm_factory=scripted(self.llm_answers))
        return agent.AgentExecutor()

    async def run(self, wf: Workflow, alert: dict[str, Any], source: Source | None) -> Run:
        key = f"{wf.metadata.namespace}/{wf.metadata.name}"
        event_id = str(uuid.uuid4())
        fresh = engine.new_run(
            run_id=ids.run_id(workflow=key, event_id=event_id), workflow=key, spec=wf.spec, event_id=event_id,
            event_type=EventType.ALERT_FIRING,
            source=f"{source.metadata.namespace}/{source.metadata.name}" if source else None,
            source_context=dict(source.spec.context) if source else {}, alert=alert, data=None, now=clock.now())
        advance = engine.start(run=fresh, now=clock.now())
        run, action = advance.run, advance.action
        while isinstance(action, engine.RunStep):
            gate = engine.gate(run=run, step=action.step, now=clock.now())
            if isinstance(gate, engine.AwaitApproval):
                self.on_step(gate.run, action.step)
                decision = Decision.APPROVED if self.approve else Decision.DENIED
                run = engine.decide(run=gate.run, step=action.step, decision=decision, by=APPROVER, now=clock.now())
                continue
            if isinstance(gate, engine.Advance):
                run, action = gate.run, gate.action
                continue
            spec = run.spec.step(action.step)
            assert spec is not None
            run = engine.begin_step(run=run, step=action.step, now=clock.now())
            self.on_step(run, action.step)
            try:
                secrets = await resolve_secrets(self.bundle.secrets, run, spec.work)
            except MissingSecret as exc:
                outcome = engine.Outcome(StepPhase.FAILED, error=str(exc))
            else:
                outcome = masked(await self._executor(action.executor).execute(
                    run=run, step=spec.work, secrets=secrets), secrets)
            advance = engine.complete_step(run=run, step=action.step, outcome=outcome, now=clock.now())
            run, action = advance.run, advance.action
            self.on_step(run, spec.name)
        return run
