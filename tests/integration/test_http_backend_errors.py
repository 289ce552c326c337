"""`--server` against something that answers errors not in the API's shape: a clear
error each time, never a traceback. The remote is a real HTTP server (tests/receiver.py)."""

from __future__ import annotations

import asyncio

import pytest
from cutman.cli import main
from cutman.cli.http_backend import HTTPBackend
from cutman.errors import BadRequest, CutmanError, Unavailable

from tests.receiver import Receiver, Reply, Request


@pytest.mark.parametrize(("reply", "kind", "message"), [
    (Reply(502, ["upstream", "down"]), Unavailable, 'answered 502: ["upstream", "down"]'),
    (Reply(400, b"<html>bad gateway</html>", {"content-type": "text/html"}), BadRequest, "<html>bad gateway</html>"),
    (Reply(422, {"error": "invalid", "message": "no such phase"}), BadRequest, "no such phase"),
    (Reply(500, "just a string"), Unavailable, 'answered 500: "just a string"'),
])
def test_error_bodies_of_any_shape_are_clear_errors(reply: Reply, kind: type[CutmanError], message: str) -> None:
    remote = Receiver(lambda _req: reply)
    backend = HTTPBackend(remote.url, token=None, timeout_s=10)

    async def go() -> None:
        try:
            await backend.run("r-1")
        finally:
            await backend.close()

    try:
        with pytest.raises(kind) as err:
            asyncio.run(go())
        assert message in err.value.message
    finally:
        remote.close()


def test_send_alert_reports_an_answer_that_is_not_ingest_s(capsys: pytest.CaptureFixture[str]) -> None:
    """The Source is found through the API; the webhook's answer is a JSON list with 502."""
    def answer(req: Request) -> Reply:
        if req.method == "GET":
            return Reply(200, {"spec": {"type": "webhook", "config": {"path": "/webhook/am"}}})
        return Reply(502, ["bad", "gateway"])

    remote = Receiver(answer)
    try:
        rc = main(["--server", remote.url, "send-alert", "am", "alertname=X"])
    finally:
        remote.close()
    assert rc == 1
    assert capsys.readouterr().err == 'error: /webhook/am answered 502: ["bad", "gateway"]\n'
