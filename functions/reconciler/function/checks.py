"""Apply-time checks: refuse what this version cannot run, with the field and reason.

A resource that would fail at 3 a.m. (a template that does not parse, a sink type that
is not built, an agent tool that does not exist) is refused when applied.
"""

from __future__ import annotations

from cutman.core.cron import CronError, parse_cron
from cutman.core.dedupe import DurationError, policy_of
from cutman.core.matchers import MatcherError, parse_matcher
from cutman.core.shellsafe import compile_command
from cutman.core.templating import TemplateError, check
from cutman.core.watch_planning import label_selector
from cutman.errors import Invalid
from cutman.models.resources import Resource, Sink, Source, SourceType, Step, StepType, Workflow
from cutman.sinks import plugin_for


def check_resource(res: Resource) -> None:
    if isinstance(res, Source):
        _source(res)
    elif isinstance(res, Workflow):
        _workflow(res)
    else:
        _sink(res)


def _source(src: Source) -> None:
    if src.spec.type is SourceType.SCHEDULE:
        _schedule(src)
    if src.spec.type is SourceType.KUBERNETES:
        _kubernetes(src)
    endpoint = src.spec.config.endpoint
    if src.spec.type is SourceType.API and endpoint and (
            not endpoint.startswith("/") or any(c.isspace() for c in endpoint)):
        raise Invalid(f"spec.config.endpoint: {endpoint!r} must be a path starting with '/' (ingest serves it)",
                      field="spec.config.endpoint")
    for i, text in enumerate(src.spec.config.matchers):
        try:
            parse_matcher(text)
        except MatcherError as exc:
            raise Invalid(f"spec.config.matchers[{i}]: {exc}", field=f"spec.config.matchers[{i}]") from None
    try:
        policy_of(src.spec.config.dedupe)
    except DurationError as exc:
        raise Invalid(f"spec.config.{exc}", field="spec.config.dedupe") from None


def _schedule(src: Source) -> None:
    try:
        parse_cron(src.spec.config.cron or "", timezone=src.spec.config.timezone)
    except CronError as exc:
        raise Invalid(f"spec.config.cron: {exc}", field="spec.config.cron") from None
    if src.spec.config.authentication is not None:
        raise Invalid("a schedule Source is fed by a PingSource, which cannot authenticate; "
                      "remove spec.config.authentication", field="spec.config.authentication")


def _kubernetes(src: Source) -> None:
    try:
        label_selector(src.spec.config.label_selector or "")
    except ValueError as exc:
        raise Invalid(f"spec.config.labelSelector: {exc}", field="spec.config.labelSelector") from None
    if src.spec.config.authentication is not None:
        raise Invalid("a kubernetes Source is fed by an ApiServerSource, which cannot authenticate; "
                      "remove spec.config.authentication", field="spec.config.authentication")


def _template(text: str | None, field: str) -> None:
    if text:
        try:
            check(text)
        except TemplateError as exc:
            raise Invalid(f"{field}: {exc.message}", field=field) from None


def _workflow(wf: Workflow) -> None:
    for i, step in enumerate(wf.spec.steps):
        where = f"spec.steps[{i}] ({step.name})"
        _template(step.condition, f"{where}.condition")
        work = step.work
        if work.type is StepType.AGENT:
            _agent(wf, work, where, i)
        if work.command:
            try:
                compile_command(work.command)
            except TemplateError as exc:
                raise Invalid(f"{where}.command: {exc.message}", field=f"spec.steps[{i}].command") from None
        for j, arg in enumerate(work.args or []):
            _template(arg, f"{where}.args[{j}]")
    for i, out in enumerate(wf.spec.outputs):
        _template(out.value, f"spec.outputs[{i}] ({out.name}).value")


def _agent(wf: Workflow, step: Step, where: str, i: int) -> None:
    llm = wf.spec.runtime.llm_config
    if llm is None or not llm.model:
        raise Invalid(f"{where}: agent steps need spec.runtime.llmConfig.model",
                      field="spec.runtime.llmConfig.model")
    if llm.provider not in ("openai", "local"):
        raise Invalid(f"spec.runtime.llmConfig.provider: {llm.provider!r} is not openai or local",
                      field="spec.runtime.llmConfig.provider")
    if llm.provider == "local" and not llm.endpoint:
        raise Invalid("spec.runtime.llmConfig.endpoint is required for the local provider",
                      field="spec.runtime.llmConfig.endpoint")
    _template(step.goal, f"{where}.goal")
    # the tools (their pydantic models, httpx) are imported for workflows with agent steps only
    from cutman.agent.tools.registry import problems as tool_problems

    problem = tool_problems(step.tools)
    if problem:
        raise Invalid(f"{where}.tools: {problem}", field=f"spec.steps[{i}].tools")


def _sink(sink: Sink) -> None:
    plugin = plugin_for(sink.spec.type)
    try:
        plugin.check(sink.spec.params)
    except TemplateError as exc:
        raise Invalid(f"spec.config.template: {exc.message}", field="spec.config.template") from None
    _template(sink.spec.condition, "spec.condition")
