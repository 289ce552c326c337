"""Who may use /api/v1: pure checks of ingest's ApiAuth (token, loopback, cookie, CSRF)."""

from __future__ import annotations

from pathlib import Path

import pytest
from cutman.core.secret_policy import SecretRefused
from cutman.errors import Unauthorized
from cutman.runtime.loader import load

load("ingest")
from cutman_fn_ingest.apiauth import COOKIE, ApiAuth

TOKEN = "tok-0123456789abcdef"


def test_loopback_without_token_is_open_anything_else_is_refused() -> None:
    for listen in ("127.0.0.1:8080", "[::1]:8080", "localhost:1", "127.0.0.1:1,[::1]:1"):
        ApiAuth.from_cfg({"LISTEN_ADDRESS": listen}).check({}, method="POST")
    for cfg in ({"LISTEN_ADDRESS": "0.0.0.0:8080"}, {}, {"LISTEN_ADDRESS": "127.0.0.1:1,[::]:1"},
                {"LISTEN_ADDRESS": "10.0.0.5:8080"}):
        closed = ApiAuth.from_cfg(cfg)
        with pytest.raises(Unauthorized) as err:
            closed.check({"authorization": "Bearer anything"}, method="GET")
        assert "CUTMAN_API_TOKEN" in err.value.message, cfg


def test_token_from_setting_or_file_and_placeholders_refused(tmp_path: Path) -> None:
    path = tmp_path / "token"
    path.write_text(TOKEN + "\n")
    for cfg in ({"CUTMAN_API_TOKEN": TOKEN}, {"CUTMAN_API_TOKEN_FILE": str(path)}):
        auth = ApiAuth.from_cfg({**cfg, "LISTEN_ADDRESS": "127.0.0.1:1"})
        assert auth.required, "a configured token is required even on loopback"
        auth.check({"authorization": f"Bearer {TOKEN}"}, method="POST")
        with pytest.raises(Unauthorized):
            auth.check({"authorization": f"Bearer {TOKEN}x"}, method="GET")
        with pytest.raises(Unauthorized):
            auth.check({}, method="GET")
    for bad in ("change-me", "short-token", "replace-me-with-a-long-one"):
        with pytest.raises(SecretRefused):
            ApiAuth.from_cfg({"CUTMAN_API_TOKEN": bad})
    with pytest.raises(SecretRefused):
        ApiAuth.from_cfg({"CUTMAN_API_TOKEN_FILE": str(tmp_path / "missing")})


def test_session_cookie_reads_and_posts_only_with_the_csrf_header() -> None:
    auth = ApiAuth.from_cfg({"CUTMAN_API_TOKEN": TOKEN})
    session = auth.session()
    assert TOKEN not in session
    cookie = {"cookie": f"other=1; {COOKIE}={session}"}
    auth.check(cookie, method="GET")
    with pytest.raises(Unauthorized):
        auth.check(cookie, method="POST")
    auth.check({**cookie, "x-cutman-request": "1"}, method="POST")
    with pytest.raises(Unauthorized):
        auth.check({"cookie": f"{COOKIE}={session[:-1]}{'1' if session[-1] == '0' else '0'}"}, method="GET")
