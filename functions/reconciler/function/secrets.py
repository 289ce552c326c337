"""Secrets a Workflow's steps read at run time (`secretEnv`, `llmConfig.apiKeySecret`).

Steps read them from the secret store in Redis (cutman.stephost). In `cutman dev` that
is where `cutman apply` put them; in a cluster they live in the API, so the reconciler
copies the ones a Workflow names, and only those, into Redis when it configures the
Workflow (its Role may `get` only listed Secrets). Values are never logged.
"""

from __future__ import annotations

from cutman.errors import CutmanError
from cutman.models.resources import Sink, Workflow
from cutman.models.secret import CONVENTIONAL_KEYS, SecretLookup, SecretRef, resolve_secret
from cutman.sinks.base import secret_names


def secret_refs(wf: Workflow) -> list[tuple[str, str]]:
    """(field, reference) of every Secret reference in the Workflow, in spec order."""
    out = [(f"spec.runtime.secretEnv.{k}", v) for k, v in wf.spec.runtime.secret_env.items()]
    for i, step in enumerate(wf.spec.steps):
        out += [(f"spec.steps[{i}].secretEnv.{k}", v) for k, v in step.secret_env.items()]
        if step.agent is not None:
            out += [(f"spec.steps[{i}].agent.secretEnv.{k}", v) for k, v in step.agent.secret_env.items()]
    llm = wf.spec.runtime.llm_config
    if llm is not None and llm.api_key_secret:
        out.append(("spec.runtime.llmConfig.apiKeySecret", llm.api_key_secret))
    return out


def workflow_secrets(wf: Workflow) -> list[str]:
    """`namespace/name` of every Secret the Workflow's steps may read, sorted, once each."""
    ns = wf.metadata.namespace
    return sorted({SecretRef.parse(r, namespace=ns).secret for _, r in secret_refs(wf)})


async def secret_problems(wf: Workflow, lookup: SecretLookup) -> list[str]:
    """Why the Workflow's Secret references do not resolve (a missing Secret or key), in
    its own namespace; the steps that need them would fail at run time."""
    problems: list[str] = []
    for where, ref in secret_refs(wf):
        keys = ("apiKey", "token") if where.endswith("apiKeySecret") else CONVENTIONAL_KEYS
        try:
            await resolve_secret(ref, namespace=wf.metadata.namespace, lookup=lookup, keys=keys, where=where)
        except CutmanError as exc:
            problems.append(exc.message)
    return problems


def sink_secrets(sink: Sink) -> list[str]:
    """`namespace/name` of every Secret the Sink's plugin reads at delivery."""
    return [f"{sink.metadata.namespace}/{n}" for n in secret_names(sink.spec.params)]
