"""A scripted OpenAI-compatible chat completions server on a real loopback HTTP port.

The test double for the paid OpenAI API (or a local vLLM/Ollama): it speaks the real
wire protocol (`POST /v1/chat/completions`, `tool_calls`, `usage`), so the `openai`
client and cutman's adapter run unchanged. Each request is recorded; the reply comes
from a script: a function of the request body.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self

Script = Callable[[dict[str, Any]], dict[str, Any]]


def usage(prompt: int = 10, completion: int = 5) -> dict[str, int]:
    return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion}


def tool_calls(*calls: tuple[str, Any], tokens: tuple[int, int] = (10, 5)) -> dict[str, Any]:
    """An assistant turn calling tools; a str argument is sent verbatim (malformed JSON)."""
    return {"content": None, "usage": usage(*tokens), "tool_calls": [
        {"id": f"call_{i}_{name}", "type": "function",
         "function": {"name": name, "arguments": args if isinstance(args, str) else json.dumps(args)}}
        for i, (name, args) in enumerate(calls)]}


def answer(content: Any, tokens: tuple[int, int] = (10, 5)) -> dict[str, Any]:
    return {"content": content if isinstance(content, str) else json.dumps(content), "usage": usage(*tokens)}


def sequence(*turns: dict[str, Any]) -> Script:
    """Reply with the turns in order, repeating the last one."""
    state = {"i": 0}

    def script(_req: dict[str, Any]) -> dict[str, Any]:
        turn = turns[min(state["i"], len(turns) - 1)]
        state["i"] += 1
        return turn

    return script


class ScriptedOpenAI:
    def __init__(self, script: Script) -> None:
        self.script = script
        self.requests: list[dict[str, Any]] = []
        self.headers: list[dict[str, str]] = []
        stub = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *_args: Any) -> None:
                pass

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("content-length", "0"))))
                if self.path.rstrip("/") != "/v1/chat/completions":
                    self._send(404, {"error": {"message": f"no route {self.path}"}})
                    return
                stub.requests.append(body)
                stub.headers.append({k.lower(): v for k, v in self.headers.items()})
                turn = stub.script(body)
                message: dict[str, Any] = {"role": "assistant", "content": turn.get("content")}
                if turn.get("tool_calls"):
                    message["tool_calls"] = turn["tool_calls"]
                self._send(200, {
                    "id": f"chatcmpl-{len(stub.requests)}", "object": "chat.completion",
                    "created": int(time.time()), "model": body.get("model", "scripted"),
                    "choices": [{"index": 0, "message": message,
                                 "finish_reason": "tool_calls" if turn.get("tool_calls") else "stop"}],
                    "usage": turn.get("usage", usage()),
                })

            def _send(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                try:
                    self.send_response(status)
                    self.send_header("content-type", "application/json")
                    self.send_header("content-length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):
                    pass  # the client gave up (a timeout under test)

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/v1"

    def __enter__(self) -> Self:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)
