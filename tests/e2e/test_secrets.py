"""No form of a secret anywhere: Redis, its AOF, every log, every event, `runs get -o json`.

Secrets are applied with `cutman apply` (core v1 Secrets), workflows print them plainly,
base64-encoded (with and without echo's newline, URL-safe), hex, URL-encoded, as JSON,
cut with `${PW%-suffix}` / `${PW#prefix}`, on stdout and stderr, in outputs, in a
failing step's error, and a webhook sink posts to a URL carrying tokens in its userinfo
and query string. Afterwards every byte cutman kept or wrote is searched for every form.

Real components: `cutman dev` as a subprocess (its own password-protected redis-server
with an AOF, the dev broker, the five functions), dash, coreutils and jq in the steps.
The webhook's remote is a local receiver over real HTTP (tests/receiver.py).
Events are covered by the dev broker's Redis streams and by the AOF, which holds every
XADD the broker made.
"""

from __future__ import annotations

import base64
import json
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import quote, quote_plus

import redis
import yaml
from cutman.runtime.stack import StackInfo

from tests.receiver import Receiver
from tests.stack import REPO, Stack, start_stack, stop_stack

PW = "Zq9-hunter2/s3cr3t+v@lue-suffix"
URL_PASS = "userinfo-pass-5b1e"
URL_TOKEN = "query-token-9c7d"


def forms() -> dict[str, str]:
    raw = PW.encode()
    return {
        "plain": PW,
        "base64": base64.b64encode(raw).decode(),
        "base64 of echo": base64.b64encode(raw + b"\n").decode()[:-4],
        "base64url": base64.urlsafe_b64encode(raw).decode().rstrip("="),
        "hex": raw.hex(),
        "urlencoded": quote(PW, safe=""),
        "urlencoded+": quote_plus(PW),
        "json": json.dumps(PW)[1:-1],
        "${PW%-suffix}": PW.removesuffix("-suffix"),
        "${PW#Zq9-}": PW.removeprefix("Zq9-"),
        "url userinfo": URL_PASS,
        "url query": URL_TOKEN,
    }


STEPS = [
    {"name": "plain", "type": "cli", "command": 'echo "pw=$PW"'},
    {"name": "b64", "type": "cli", "command":
        'printf %s "$PW" | base64 -w0; echo; echo "$PW" | base64 -w0; echo; printf %s "$PW" | base64 -w0 | tr "+/" "-_"'},
    {"name": "cut", "type": "cli", "command": 'echo "${PW%-suffix}"; echo "${PW#Zq9-}"'},
    {"name": "urlenc", "type": "cli", "command": 'jq -rn --arg v "$PW" \'$v|@uri\'; printf %s "$PW" | od -An -tx1 | tr -d " \\n"'},
    {"name": "json", "type": "cli", "command": 'jq -cn --arg v "$PW" \'{v: $v, b: ($v|@base64)}\''},
    {"name": "stderr", "type": "cli", "command": 'echo "err ${PW%-suffix}" >&2'},
]


def manifests(tmp: Path, hook: str) -> Path:
    folder = tmp / "manifests"
    folder.mkdir()
    docs: list[dict[str, Any]] = [
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "db", "namespace": "default"},
         "stringData": {"password": PW}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Source", "metadata": {"name": "am", "namespace": "default"},
         "spec": {"type": "webhook", "config": {"path": "/webhook/secrets"}, "triggerWorkflow": "leaky"}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Source", "metadata": {"name": "am2", "namespace": "default"},
         "spec": {"type": "webhook", "config": {"path": "/webhook/fails"}, "triggerWorkflow": "failing"}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "leaky", "namespace": "default"},
         "spec": {"runtime": {"secretEnv": {"PW": "db/password"}}, "steps": STEPS,
                  "outputs": [{"name": "leak", "value": "{{ .steps.b64.output }} {{ .steps.json.result.v }}"},
                              {"name": "cut", "value": "{{ .steps.cut.output }}"}],
                  "sinks": ["hook", "console"]}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Workflow", "metadata": {"name": "failing", "namespace": "default"},
         "spec": {"runtime": {"secretEnv": {"PW": "db/password"}}, "sinks": ["hook"],
                  "steps": [{"name": "boom", "type": "cli", "command": 'echo "$PW" | base64 >&2; exit 3'}]}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Sink", "metadata": {"name": "hook", "namespace": "default"},
         "spec": {"type": "webhook", "config": {"endpoint": hook, "template":
                  '{"leak": "{{ .workflow.outputs.leak }}", "b64": "{{ .steps.b64.output }}", "error": "{{ .run.error }}"}'}}},
        {"apiVersion": "cutman.dev/v1alpha1", "kind": "Sink", "metadata": {"name": "console", "namespace": "default"},
         "spec": {"type": "stdout", "config": {"template": "[secrets] {{ .workflow.outputs.leak }} {{ .workflow.outputs.cut }}"}}},
    ]
    (folder / "all.yaml").write_text(yaml.safe_dump_all(docs))
    return folder


def alert(name: str) -> dict[str, Any]:
    return {"version": "4", "status": "firing", "receiver": "cutman", "groupKey": name,
            "alerts": [{"status": "firing", "labels": {"alertname": name}, "annotations": {},
                        "startsAt": "2026-12-01T10:00:00Z", "fingerprint": name}]}


def redis_dump(url: str) -> dict[str, bytes]:
    """Every key's value, as text to search."""
    client = redis.Redis.from_url(url)
    out: dict[str, bytes] = {}
    try:
        for key in client.scan_iter(count=1000):
            kind = client.type(key).decode()
            value: Any
            if kind == "string":
                value = client.get(key)
            elif kind == "hash":
                value = client.hgetall(key)
            elif kind == "list":
                value = client.lrange(key, 0, -1)
            elif kind == "set":
                value = client.smembers(key)
            elif kind == "zset":
                value = client.zrange(key, 0, -1, withscores=True)
            elif kind == "stream":
                value = client.xrange(key)
            else:
                value = kind
            out[key.decode()] = repr(value).encode()
    finally:
        client.close()
    return out


def aof_commands(data: bytes) -> list[list[bytes]]:
    """The commands of an append-only file (RESP arrays of bulk strings)."""
    commands: list[list[bytes]] = []
    i = 0
    while i < len(data):
        assert data[i:i + 1] == b"*", data[i:i + 20]
        end = data.index(b"\r\n", i)
        count = int(data[i + 1:end])
        args: list[bytes] = []
        i = end + 2
        for _ in range(count):
            end = data.index(b"\r\n", i)
            size = int(data[i + 1:end])
            args.append(data[end + 2:end + 2 + size])
            i = end + 2 + size + 2
        commands.append(args)
    return commands


def cutman_json(stack: Stack, *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "cutman.cli", "--state-dir", str(stack.state), *args, "-o", "json"],
                          cwd=REPO, capture_output=True, text=True, timeout=60, check=True)
    return done.stdout + done.stderr


def test_no_form_of_a_secret_is_kept_anywhere(tmp_path: Path) -> None:
    receiver = Receiver()
    host = receiver.url.removeprefix("http://")
    stack = start_stack(tmp_path, str(manifests(tmp_path, f"http://cutman:{URL_PASS}@{host}/hook?token={URL_TOKEN}")))
    try:
        for path, name in (("/webhook/secrets", "Leaky"), ("/webhook/fails", "Failing")):
            assert stack.post(path, alert(name)).status_code == 200
        stack.wait_for(lambda: len([r for r in stack.json("runs", "list") if r["phase"] in ("Succeeded", "Failed")]) == 2,
                       what="both runs to finish", timeout=60)
        stack.wait_for(lambda: len(receiver.posts("/hook")) == 2, what="both webhook posts")
        stack.wait_for(lambda: any(line.startswith("[secrets]") for line in stack.lines), what="the stdout sink")
        views = {r["workflow"]: r for r in (json.loads(cutman_json(stack, "runs", "get", r["id"]))
                                            for r in stack.json("runs", "list"))}
        leaky, failing = views["default/leaky"], views["default/failing"]
        assert leaky["phase"] == "Succeeded", leaky
        assert [s["phase"] for s in leaky["steps"]] == ["Succeeded"] * len(STEPS)
        assert "***" in leaky["steps"][0]["output"] and "***" in leaky["outputs"]["leak"]
        assert failing["phase"] == "Failed" and "exit code 3" in (failing["error"] or "")
        assert receiver.posts("/hook")[0].query == {"token": [URL_TOKEN]}, "the sink did use the real URL"

        info = StackInfo.load(stack.state)
        assert info is not None
        redis_dir = stack.state / "redis"
        assert stat.S_IMODE(redis_dir.stat().st_mode) == 0o700
        aof = sorted(p for p in redis_dir.rglob("*") if p.is_file())
        assert any(p.suffix == ".aof" for p in aof)
        for p in aof:
            assert stat.S_IMODE(p.stat().st_mode) == 0o600, p
        with redis.Redis(port=int(info.redis_url.rsplit(":", 1)[1].split("/")[0])) as anonymous:
            try:
                anonymous.ping()
                raise AssertionError("the local Redis answered without a password")
            except redis.AuthenticationError:
                pass
            except redis.ResponseError as exc:
                assert "NOAUTH" in str(exc) or "authentication" in str(exc).lower()

        keys = redis_dump(info.redis_url)
        assert any(k.startswith("cm:run:") for k in keys) and any(k.startswith("cm:secret:") for k in keys)
        # the Sink's own compiled config is where its endpoint lives (a URL is config, not a Secret)
        config, field = "cm:cfg:sink", b"default/hook"
        with redis.Redis.from_url(info.redis_url) as client:
            applied = client.hget(config, field)
            rest = {k: v for k, v in client.hgetall(config).items() if k != field}
        assert applied is not None and URL_TOKEN.encode() in applied, "the sink's config holds its endpoint"
        places: dict[str, bytes] = {f"redis key {k}": v for k, v in keys.items() if k != config}
        places[config] = repr(rest).encode()
        places |= {str(p.relative_to(stack.state)): p.read_bytes() for p in aof}
        incr = [k for k in places if k.endswith(".incr.aof")]
        assert incr
        for name in incr:  # the commands that wrote that config may hold the URL, no other
            places[name] = b"\n".join(b" ".join(cmd) for cmd in aof_commands(places[name])
                                      if not (config.encode() in cmd and field in cmd))
        places |= {str(p.relative_to(stack.state)): p.read_bytes() for p in (stack.state / "logs").rglob("*")
                   if p.is_file()}
        places["cutman dev output"] = "".join(stack.lines).encode()
        places["runs list -o json"] = cutman_json(stack, "runs", "list").encode()
        for run in views.values():
            places[f"runs get {run['id']} -o json"] = cutman_json(stack, "runs", "get", run["id"]).encode()
        places["webhook posts"] = b"\n".join(r.body for r in receiver.posts())
        assert len(places) > 10
        hits = [(form, where) for form, text in forms().items() for where, data in places.items()
                if text.encode() in data]
        assert hits == [], hits
    finally:
        stop_stack(stack)
        receiver.close()
