"""Pure parts of the agent runtime: answer schema, tool argument checks, budgets."""

from __future__ import annotations

import pytest
from cutman.agent import loop
from cutman.agent.answer import AnswerError, parse_answer
from cutman.agent.tools import registry
from cutman.agent.tools.base import ToolError
from cutman.agent.tools.curl import check_url
from cutman.agent.tools.kubectl import Kubectl, KubectlParams, build_argv
from cutman.models.resources import ToolSpec


def test_answer_defaults_free_fields_and_fences() -> None:
    out = parse_answer('```json\n{"summary": "s", "extra": [1]}\n```')
    assert out == {"summary": "s", "root_cause": "", "can_auto_fix": False, "recommendations": [],
                   "confidence": 0.5, "extra": [1]}


@pytest.mark.parametrize(("text", "reason"), [
    ("prose", "the answer is not a JSON object"),
    ("[1]", "the answer is JSON but not an object"),
    ('{"root_cause": "x"}', "summary: Field required"),
    ('{"summary": "s", "confidence": 3}', "confidence: Input should be less than or equal to 1"),
    (None, "the answer is not a JSON object"),
])
def test_answer_errors_name_the_problem(text: str | None, reason: str) -> None:
    with pytest.raises(AnswerError) as exc:
        parse_answer(text)
    assert str(exc.value) == reason


def test_kubectl_argv_is_built_from_validated_fields() -> None:
    assert build_argv(KubectlParams(verb="logs", name="web-1", namespace="prod", tail=50, container="app")) == [
        "kubectl", "--request-timeout=20s", "logs", "web-1", "--tail=50", "--container=app", "--namespace=prod"]
    assert build_argv(KubectlParams(verb="get", resource="pods", selector="app=web,tier!=db", all_namespaces=True))[2:] == [
        "get", "pods", "--selector=app=web,tier!=db", "--all-namespaces"]
    assert build_argv(KubectlParams(verb="events", name="web-1"))[2:] == [
        "get", "events", "--sort-by=.lastTimestamp", "--field-selector=involvedObject.name=web-1"]


@pytest.mark.parametrize("args", [
    {"verb": "delete", "resource": "pods"},
    {"verb": "get", "resource": "--kubeconfig=/etc/x"},
    {"verb": "get", "resource": "pods", "name": "$(touch CANARY)"},
    {"verb": "logs", "name": "web", "namespace": "-n"},
    {"verb": "get", "resource": "pods", "selector": "-l x"},
    {"verb": "get", "resource": "pods", "name": "a\nb"},
    {"verb": "get", "resource": "pods", "extra": "x"},
])
def test_kubectl_refuses_bad_arguments(args: dict[str, str]) -> None:
    with pytest.raises(ToolError, match="invalid arguments"):
        Kubectl().parse(args)


@pytest.mark.parametrize(("args", "reason"), [
    ({"verb": "logs"}, "logs needs `name`"), ({"verb": "get"}, "get needs `resource`"),
    ({"verb": "top", "resource": "deployments"}, "top works on pods or nodes"),
])
def test_kubectl_refuses_incomplete_calls(args: dict[str, str], reason: str) -> None:
    with pytest.raises(ToolError, match=reason):
        build_argv(KubectlParams.model_validate(args))


@pytest.mark.parametrize(("url", "reason"), [
    ("file:///etc/passwd", "only http and https"),
    ("http://evil.example/x", "host 'evil.example' is not in this tool's allowedHosts"),
    ("http://user:pw@ok.example/", "credentials"),
    ("http://ok.example:99999/", "not a valid URL"),
    ("http://ok.example.evil/", "not in this tool's allowedHosts"),
])
def test_curl_refuses_urls_off_the_allow_list(url: str, reason: str) -> None:
    with pytest.raises(ToolError, match=reason):
        check_url(url, ["ok.example", "svc.local:8080"])


def test_curl_allows_listed_hosts_with_or_without_port() -> None:
    assert check_url("https://OK.example/a?b=c", ["ok.example"]) == "https://OK.example/a?b=c"
    assert check_url("http://svc.local:8080/x", ["svc.local:8080"])
    with pytest.raises(ToolError):
        check_url("http://svc.local:8081/x", ["svc.local:8080"])


def test_registry_builds_builtins_and_command_tools_and_names_problems() -> None:
    tools = registry.build(["kubectl", ToolSpec(name="promql", endpoint="http://p"),
                            ToolSpec(name="mine", command="echo {{ .args.x }}", parameters={"x": "a value"})])
    assert list(tools) == ["kubectl", "promql", "mine"]
    schema = tools["mine"].schema("mine")["function"]
    assert schema["parameters"]["properties"] == {"x": {"type": "string", "description": "a value"}}
    assert registry.problems(["kubctl"]) == "unknown tool 'kubctl' (built in: kubectl, promql, curl; or give it a `command`)"
    assert registry.problems(["kubectl", "kubectl"]) == "tool 'kubectl' is listed twice"
    assert registry.problems([ToolSpec(name="kubectl", command="rm -rf /")]) is not None
    assert registry.problems([ToolSpec(name="bad name", command="true")]) is not None
    assert "parameter 'X'" in (registry.problems([ToolSpec(name="t", command="true", parameters={"X": ""})]) or "")
    assert "command:" in (registry.problems([ToolSpec(name="t", command="echo {{ .x")]) or "")


def test_budget_and_cap() -> None:
    assert loop.remaining_budget(run_budget=None, run_used=10**6, step_budget=500) == 500
    assert loop.remaining_budget(run_budget=1000, run_used=800, step_budget=500) == 200
    assert loop.remaining_budget(run_budget=1000, run_used=1200, step_budget=500) == 0
    assert loop.cap("abcdef", 3) == "abc\n[... 3 more bytes cut by cutman]"
    assert loop.cap("abc", 3) == "abc"
    assert loop.cap("é" * 3, 3) == "é\n[... 3 more bytes cut by cutman]"


def test_stored_transcript_is_trimmed_oldest_first() -> None:
    import json

    msgs = [{"role": "system", "content": "s" * 500}, {"role": "user", "content": "g" * 500},
            {"role": "tool", "content": "a" * 5000}, {"role": "tool", "content": "b" * 5000},
            {"role": "assistant", "content": "end"}]
    out = loop.trim_transcript(msgs, 7000)
    assert len(json.dumps(out)) <= 7000
    assert out[0] == msgs[0] and out[1] == msgs[1] and out[3] == msgs[3] and out[4] == msgs[4]
    assert out[2]["content"] == "a" * 200 + "\n[... 4800 characters not stored]"
    assert loop.trim_transcript(msgs, 10**6) == msgs
