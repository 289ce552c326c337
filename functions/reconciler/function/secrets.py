"""Secrets a Workflow's steps read at run time (`secretEnv`, `llmConfig.apiKeySecret`).

Steps read them from the secret store in Redis (cutman.stephost). In `cutman dev` that
is where `cutman apply` put them; in a cluster they live in the API, so the reconciler
copies the ones a Workflow names, and only those, into Redis when it configures the
Workflow (its Role may `get` only listed Secrets). Values are never logged.
"""

from __future__ import annotations

from cutman.models.resources import Workflow
from cutman.models.secret import SecretRef


def workflow_secrets(wf: Workflow) -> list[str]:
    """`namespace/name` of every Secret the Workflow's steps may read, sorted, once each."""
    ns = wf.metadata.namespace
    refs = list(wf.spec.runtime.secret_env.values())
    for step in wf.spec.steps:
        refs += list(step.secret_env.values())
        if step.agent is not None:
            refs += list(step.agent.secret_env.values())
    llm = wf.spec.runtime.llm_config
    if llm is not None and llm.api_key_secret:
        refs.append(llm.api_key_secret)
    return sorted({SecretRef.parse(r, namespace=ns).secret for r in refs})
