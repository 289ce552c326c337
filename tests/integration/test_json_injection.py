"""A hostile label in a JSON sink template never adds a key or breaks the document sent.

Before: a label `", "admin": true, "x": "` in `{"text": "{{ .x }}"}` injected keys into
the JSON posted, and a newline made the body invalid JSON, sent as text/plain.

Real components: the sink function as a subprocess (func-python HTTP) against a real
Redis (sink_harness), and a local receiver over real HTTP standing in for the customer's
webhook, which checks the documented shape (a JSON body, application/json). The stdout
sink's printed line is read from the function's own output.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from cutman.runtime.redis_server import stop_process

from tests.integration.sink_harness import ALERT, SinkRig, start_sink
from tests.receiver import Receiver
from tests.waiting import wait_for

HOSTILE = ['", "admin": true, "x": "', "two\nlines", 'tab\tquote" }', "\\", "\u2028 \x01"]


@pytest.fixture
def rig(redis_url: str, tmp_path: Path) -> Iterator[SinkRig]:
    proc, rig = start_sink(redis_url, tmp_path)
    yield rig
    stop_process(proc, timeout=10)


def test_webhook_template_escapes_labels(rig: SinkRig, receiver: Receiver) -> None:
    template = '{"text": "{{ .alert.labels.x }}", "pod": {{ .alert.labels.pod }}, "n": {{ .alert.labels.n }}}'
    rig.sink("hook", {"type": "webhook", "config": {"endpoint": receiver.url + "/in", "template": template}})
    for i, value in enumerate(HOSTILE):
        alert = {**ALERT, "labels": {**ALERT["labels"], "x": value, "pod": value, "n": "1, \"admin\": true"}}
        rig.run(f"run-{i}", alert=alert)
        assert rig.deliver("hook", f"run-{i}").status_code == 200
    posts = receiver.posts("/in")
    assert len(posts) == len(HOSTILE)
    for req, value in zip(posts, HOSTILE, strict=True):
        assert req.headers["content-type"].startswith("application/json"), req.headers
        assert req.json() == {"text": value, "pod": value, "n": "1, \"admin\": true"}


def test_stdout_template_escapes_labels(redis_url: str, tmp_path: Path) -> None:
    proc, rig = start_sink(redis_url, tmp_path)
    try:
        rig.sink("out", {"type": "stdout", "config": {"template": '{"text": "{{ .alert.labels.x }}"}'}})
        rig.run(alert={**ALERT, "labels": {"x": '", "admin": true, "y": "\nz'}})
        assert rig.deliver("out").status_code == 200
    finally:
        stop_process(proc, timeout=10)
    lines = wait_for(lambda: [ln for ln in rig.log.read_text().splitlines() if ln.startswith('{"text"')],
                     what="the stdout sink's line")
    assert json.loads(lines[0]) == {"text": '", "admin": true, "y": "\nz'}
