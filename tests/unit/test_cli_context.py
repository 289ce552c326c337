"""The CLI's context file: what is wrong in it is a clear error, not a traceback."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest
from cutman.cli.connect import target
from cutman.errors import BadRequest


def test_a_missing_token_file_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "config"
    config.write_text(f"""
current-context: prod
contexts:
  - name: prod
    server: https://cutman.example.com
    token-file: {tmp_path / "no-such-token"}
""")
    monkeypatch.setenv("CUTMAN_CONFIG", str(config))
    monkeypatch.delenv("CUTMAN_SERVER", raising=False)
    with pytest.raises(BadRequest) as err:
        target(argparse.Namespace(server=None, context=None))
    assert err.value.message == (f"{config}: context 'prod': token-file {tmp_path / 'no-such-token'}: "
                                 "No such file or directory")


def test_a_readable_token_file_gives_the_token(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "token").write_text("tok-0123456789abcdef\n")
    config = tmp_path / "config"
    config.write_text(f"contexts: [{{name: prod, server: 'https://c.example', token-file: '{tmp_path / 'token'}'}}]\n")
    monkeypatch.setenv("CUTMAN_CONFIG", str(config))
    monkeypatch.delenv("CUTMAN_SERVER", raising=False)
    where = target(argparse.Namespace(server=None, context="prod"))
    assert (where.server, where.token) == ("https://c.example", "tok-0123456789abcdef")


def test_an_unset_token_env_is_a_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Not a request without a token and the server's 401 'refused the token'."""
    config = tmp_path / "config"
    config.write_text("contexts: [{name: prod, server: 'https://c.example', token-env: CUTMAN_TEST_NO_SUCH_VAR}]\n")
    monkeypatch.setenv("CUTMAN_CONFIG", str(config))
    monkeypatch.delenv("CUTMAN_SERVER", raising=False)
    monkeypatch.delenv("CUTMAN_TEST_NO_SUCH_VAR", raising=False)
    with pytest.raises(BadRequest) as err:
        target(argparse.Namespace(server=None, context="prod"))
    assert err.value.message == f"{config}: context 'prod': token-env CUTMAN_TEST_NO_SUCH_VAR is not set"
    monkeypatch.setenv("CUTMAN_TEST_NO_SUCH_VAR", "tok-0123456789abcdef")
    assert target(argparse.Namespace(server=None, context="prod")).token == "tok-0123456789abcdef"
