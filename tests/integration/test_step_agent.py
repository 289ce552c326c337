"""step-agent against a scripted OpenAI-compatible server over real HTTP.

Test double: tests/openai_stub.py stands in for the paid OpenAI API and speaks its wire
protocol. Everything else is real: the `openai` client, the step host, Redis, tool
commands under /bin/sh, Prometheus (Debian `prometheus`) for the promql tool.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from cutman.models.run import RunPhase, StepPhase

from tests.openai_stub import ScriptedOpenAI, answer, sequence, tool_calls
from tests.prometheus import Prometheus, start_prometheus
from tests.steps import run_workflow

GOOD = {"summary": "web-1 is CPU bound", "root_cause": "a busy loop", "can_auto_fix": False,
        "recommendations": ["scale out"], "confidence": 0.8, "pod": "web-1"}


def spec(url: str, steps: list[dict[str, Any]], **runtime: Any) -> dict[str, Any]:
    return {"runtime": {"llmConfig": {"provider": "local", "endpoint": url, "model": "scripted"}, **runtime},
            "steps": steps,
            "outputs": [{"name": "summary", "value": "{{ .steps.investigate.result.summary }}"}]}


def agent(**extra: Any) -> dict[str, Any]:
    return {"name": "investigate", "type": "agent", "goal": "Why is {{ .alert.labels.pod }} slow?", **extra}


POD_TOOL = {"name": "pod_info", "description": "facts about a pod", "parameters": {"pod": "pod name"},
            "command": "echo \"pod={{ .args.pod }} alert={{ .alert.alertname }}\""}


def test_tool_calls_then_answer_becomes_result_and_output(redis_url: str) -> None:
    script = sequence(tool_calls(("pod_info", {"pod": "web-1"})), answer(GOOD, tokens=(30, 20)))
    with ScriptedOpenAI(script) as llm:
        run = run_workflow(redis_url, spec(llm.url, [agent(tools=[POD_TOOL])]))
    state = run.state("investigate")
    assert run.phase is RunPhase.SUCCEEDED, run.error
    assert state.result == GOOD and run.outputs == {"summary": "web-1 is CPU bound"}
    assert json.loads(state.output) == GOOD
    assert [(c["name"], c["arguments"], c["ok"]) for c in state.toolCalls] == [("pod_info", {"pod": "web-1"}, True)]
    assert state.usage == {"prompt_tokens": 40, "completion_tokens": 25, "total_tokens": 65, "calls": 2}
    first, second = llm.requests
    assert first["messages"][1]["content"] == "Why is web-1 slow?"
    assert [t["function"]["name"] for t in first["tools"]] == ["pod_info"]
    assert first["tool_choice"] == "auto"
    tool_msg = second["messages"][-1]
    assert tool_msg["role"] == "tool" and tool_msg["content"] == "pod=web-1 alert=HighCPU\n"
    assert state.transcript is not None and state.transcript[-1]["role"] == "assistant"


def test_malformed_tool_arguments_are_reported_to_the_model(redis_url: str) -> None:
    script = sequence(
        tool_calls(("pod_info", "{not json"), ("pod_info", {"pod": "x", "rm": "-rf"}), ("nope", {})),
        answer(GOOD),
    )
    with ScriptedOpenAI(script) as llm:
        run = run_workflow(redis_url, spec(llm.url, [agent(tools=[POD_TOOL])]))
    assert run.phase is RunPhase.SUCCEEDED
    calls = run.state("investigate").toolCalls
    assert [c["ok"] for c in calls] == [False, False, False]
    assert calls[0]["error"] == "arguments are not valid JSON"
    assert calls[1]["error"] == "invalid arguments: rm: unknown field"
    assert calls[2]["error"].startswith("no tool named 'nope'")
    results = [m["content"] for m in llm.requests[1]["messages"] if m["role"] == "tool"]
    assert results == [f"error: {c['error']}" for c in calls]


def test_a_model_that_never_finishes_is_forced_to_answer(redis_url: str) -> None:
    def script(req: dict[str, Any]) -> dict[str, Any]:
        if req.get("tool_choice") == "none":
            return answer(GOOD)
        return tool_calls(("pod_info", {"pod": "web-1"}))

    with ScriptedOpenAI(script) as llm:
        run = run_workflow(redis_url, spec(llm.url, [agent(tools=[POD_TOOL], maxIterations=3)]))
    assert run.phase is RunPhase.SUCCEEDED
    assert [r["tool_choice"] for r in llm.requests] == ["auto", "auto", "none"]
    assert "last turn" in llm.requests[-1]["messages"][-1]["content"]
    assert len(run.state("investigate").toolCalls) == 2


def test_no_valid_answer_on_the_last_turn_fails_the_step(redis_url: str) -> None:
    with ScriptedOpenAI(sequence(answer("I think it is fine."))) as llm:
        run = run_workflow(redis_url, spec(llm.url, [agent(maxIterations=2)]))
    state = run.state("investigate")
    assert run.phase is RunPhase.FAILED and state.phase is StepPhase.FAILED
    assert state.error == "no valid answer by the last iteration: the answer is not a JSON object"
    assert "not accepted" in llm.requests[1]["messages"][-2]["content"]


def test_token_budget_exhaustion_fails_the_step(redis_url: str) -> None:
    with ScriptedOpenAI(sequence(tool_calls(("pod_info", {"pod": "a"}), tokens=(500, 100)))) as llm:
        run = run_workflow(redis_url, spec(llm.url, [agent(tools=[POD_TOOL], tokenBudget=1000)]))
    state = run.state("investigate")
    assert state.error == "token budget of 1000 exhausted (1200 used) before an answer"
    assert len(llm.requests) == 2
    assert llm.requests[1]["max_tokens"] == 400


def test_run_budget_is_shared_between_agent_steps(redis_url: str) -> None:
    with ScriptedOpenAI(sequence(answer(GOOD, tokens=(700, 100)))) as llm:
        run = run_workflow(redis_url, spec(llm.url, [agent(), agent(name="second")], tokenBudget=1000))
    assert run.state("investigate").phase is StepPhase.SUCCEEDED
    assert run.state("second").phase is StepPhase.SUCCEEDED
    assert llm.requests[1]["max_tokens"] == 200


def test_tool_output_is_capped_before_it_enters_the_context(redis_url: str) -> None:
    big = {"name": "big", "command": "head -c 5000 /dev/zero | tr '\\0' y"}
    with ScriptedOpenAI(sequence(tool_calls(("big", {})), answer(GOOD))) as llm:
        run = run_workflow(redis_url, spec(llm.url, [agent(tools=[big])]), cfg={"CUTMAN_TOOL_OUTPUT_LIMIT": "100"})
    content = llm.requests[1]["messages"][-1]["content"]
    assert content == "y" * 100 + "\n[... 4900 more bytes cut by cutman]"
    assert run.state("investigate").toolCalls[0]["outputBytes"] == len(content)


def test_api_key_from_a_secret_is_sent_and_never_stored(redis_url: str) -> None:
    key = "sk-test-0123456789"
    echo = {"name": "echo_key", "command": "echo I saw $LLM_KEY_COPY"}
    body = spec("", [agent(tools=[echo])], secretEnv={"LLM_KEY_COPY": "llm/apiKey"})
    with ScriptedOpenAI(sequence(tool_calls(("echo_key", {})), answer({**GOOD, "summary": f"key {key}"}))) as llm:
        body["runtime"]["llmConfig"].update(endpoint=llm.url, apiKeySecret="llm/apiKey")
        run = run_workflow(redis_url, body, secrets={"default/llm": {"apiKey": key}})
    assert llm.headers[0]["authorization"] == f"Bearer {key}"
    assert llm.requests[1]["messages"][-1]["content"] == "I saw ***\n", "a secret must not reach the model"
    assert run.state("investigate").result == {**GOOD, "summary": "key ***"}
    assert key not in run.to_json()


def test_unreachable_model_fails_the_step_with_the_reason(redis_url: str) -> None:
    from cutman.runtime.redis_server import free_port

    run = run_workflow(redis_url, spec(f"http://127.0.0.1:{free_port()}/v1", [agent()]))
    error = run.state("investigate").error or ""
    assert run.phase is RunPhase.FAILED and error.startswith("model endpoint failed: APIConnectionError")


@pytest.fixture(scope="module")
def prometheus(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Prometheus]:
    prom = start_prometheus(tmp_path_factory.mktemp("prometheus"))
    yield prom
    prom.stop()


def test_promql_tool_queries_a_real_prometheus(redis_url: str, prometheus: Prometheus) -> None:
    promql = {"name": "promql", "endpoint": prometheus.url}
    script = sequence(
        tool_calls(("promql", {"query": "cutman:test:answer"}),
                   ("promql", {"query": "cutman:test:answer", "start": "now", "end": "now", "step": "1s"}),
                   ("promql", {"query": "sum(", "time": "1"})),
        answer(GOOD),
    )
    with ScriptedOpenAI(script) as llm:
        run = run_workflow(redis_url, spec(llm.url, [agent(tools=[promql])]))
    assert run.phase is RunPhase.SUCCEEDED
    results = [m["content"] for m in llm.requests[1]["messages"] if m["role"] == "tool"]
    instant = json.loads(results[0])
    assert instant["resultType"] == "vector"
    assert instant["result"][0]["metric"] == {"__name__": "cutman:test:answer", "team": "sre"}
    assert instant["result"][0]["value"][1] == "42"
    assert results[1].startswith("error: Prometheus error (400)")
    assert results[2].startswith("error: Prometheus error (400)") and "parse error" in results[2]


def test_promql_range_query(prometheus: Prometheus, tmp_path: Path) -> None:
    import asyncio
    import time

    from cutman.agent.tools.base import ToolContext
    from cutman.agent.tools.promql import Promql, PromqlParams

    now = time.time()
    params = PromqlParams(query="cutman:test:answer", start=str(now - 5), end=str(now), step="1s")
    out = json.loads(asyncio.run(Promql(prometheus.url).run(params, ToolContext({}))))
    assert out["resultType"] == "matrix"
    assert {v for _, v in out["result"][0]["values"]} == {"42"}


def test_kubectl_tool_runs_the_real_binary_with_validated_argv(tmp_path: Path) -> None:
    """Real `kubectl` against a loopback port with nothing listening: it runs and its error is reported."""
    import asyncio

    import yaml
    from cutman.agent.tools.base import ToolContext, ToolError
    from cutman.agent.tools.kubectl import Kubectl
    from cutman.runtime.redis_server import free_port

    kubeconfig = tmp_path / "kubeconfig"
    kubeconfig.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "t",
        "clusters": [{"name": "t", "cluster": {"server": f"http://127.0.0.1:{free_port()}"}}],
        "contexts": [{"name": "t", "context": {"cluster": "t", "user": "t"}}],
        "users": [{"name": "t", "user": {}}]}))
    tool = Kubectl()
    with pytest.raises(ToolError) as exc:
        asyncio.run(tool.run(tool.parse({"verb": "get", "resource": "pods", "namespace": "prod"}),
                             ToolContext({}, {"KUBECONFIG": str(kubeconfig)}, timeout_s=20)))
    assert str(exc.value).startswith("kubectl exited 1:") and "connection refused" in str(exc.value)


def test_slow_model_is_cut_off_at_the_step_timeout(redis_url: str) -> None:
    import time

    def slow(_req: dict[str, Any]) -> dict[str, Any]:
        time.sleep(1.5)
        return answer(GOOD)

    started = time.monotonic()
    with ScriptedOpenAI(slow) as llm:
        run = run_workflow(redis_url, spec(llm.url, [agent(timeoutMinutes=0.01)]))
        elapsed = time.monotonic() - started
    error = run.state("investigate").error or ""
    assert run.phase is RunPhase.FAILED and "Timeout" in error, error
    assert elapsed < 5


def test_curl_tool_gets_allowed_hosts_only(redis_url: str) -> None:
    with ScriptedOpenAI(sequence(answer(GOOD))) as target:
        host = target.url.split("/")[2]
        curl = {"name": "curl", "allowedHosts": [host]}
        script = sequence(tool_calls(("curl", {"url": target.url + "/models"}),
                                     ("curl", {"url": "http://169.254.169.254/latest/meta-data"})), answer(GOOD))
        with ScriptedOpenAI(script) as llm:
            run = run_workflow(redis_url, spec(llm.url, [agent(tools=[curl])]))
    assert run.phase is RunPhase.SUCCEEDED
    got, refused = [m["content"] for m in llm.requests[1]["messages"] if m["role"] == "tool"]
    assert got.startswith("HTTP 501\n")
    assert refused == "error: host '169.254.169.254' is not in this tool's allowedHosts"
    assert target.requests == []
