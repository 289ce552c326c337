"""URL redaction for logs and records: no userinfo, query or fragment; Slack's path hidden."""

from __future__ import annotations

import pytest
from cutman.core.urls import redact_url, redact_urls_in


@pytest.mark.parametrize(("url", "plain", "masked"), [
    ("https://user:tok@h.example:8443/x/y?token=abc#frag", "https://h.example:8443/x/y",
     "https://***@h.example:8443/x/y?***#***"),
    ("http://127.0.0.1:9/hook", "http://127.0.0.1:9/hook", "http://127.0.0.1:9/hook"),
    ("https://hooks.slack.com/services/T0/B0/secret", "https://hooks.slack.com/", "https://hooks.slack.com/***"),
    ("redis://:pw@127.0.0.1:6380/0", "redis://127.0.0.1:6380/0", "redis://***@127.0.0.1:6380/0"),
    ("http://[::1]:80/p?q", "http://[::1]:80/p", "http://[::1]:80/p?***"),
    ("http://h:99999/", "<unparseable url>", "<unparseable url>"),
])
def test_redact_url(url: str, plain: str, masked: str) -> None:
    assert redact_url(url) == plain
    assert redact_url(url, mask="***") == masked


def test_urls_inside_text_are_redacted() -> None:
    line = 'HTTP Request: POST http://a:secret@x.example/p?token=t1 "HTTP/1.1 500"; then https://y.example/ok'
    out = redact_urls_in(line)
    assert "secret" not in out and "t1" not in out
    assert "http://***@x.example/p?***" in out and "https://y.example/ok" in out
