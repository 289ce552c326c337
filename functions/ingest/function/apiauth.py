"""Who may use `/api/v1` and `/ui`: a bearer token, or loopback in `cutman dev`.

The token is ingest's setting `CUTMAN_API_TOKEN` (a Secret's key in a cluster) or the
first line of `CUTMAN_API_TOKEN_FILE`; like every secret it must not be a placeholder or
shorter than 16 characters (cutman.core.secret_policy: ingest refuses to start). With neither, the API is open only when ingest
listens on loopback addresses only (`LISTEN_ADDRESS=127.0.0.1:*`, as `cutman dev` starts it;
unset means func-python's default, every interface);
anywhere else every request is refused, so a cluster never serves run data unguarded.

A browser's `EventSource` cannot send an Authorization header, so `/ui/login` sets a
session cookie holding HMAC(token, "cutman-ui"), not the token itself. POSTs that rely
on the cookie must carry `X-Cutman-Request: 1`, which a cross-site form cannot send.
Every comparison is `hmac.compare_digest`.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from cutman.core.auth import bearer_of
from cutman.core.secret_policy import SecretRefused, SecretRule, secret_problem
from cutman.errors import Unauthorized

COOKIE = "cutman_api"
CSRF_HEADER = "x-cutman-request"
LOOPBACK = ("127.0.0.1", "::1", "localhost")
# func-python's own default when LISTEN_ADDRESS is unset: every interface
DEFAULT_LISTEN = "[::]:8080,0.0.0.0:8080"
API_TOKEN = SecretRule("CUTMAN_API_TOKEN", 16)


def _host(listen: str) -> str:
    host = listen.rsplit(":", 1)[0] if ":" in listen else listen
    return host.strip("[]")


def cookies_of(headers: Mapping[str, str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for part in headers.get("cookie", "").split(";"):
        name, sep, value = part.strip().partition("=")
        if sep:
            out[name] = value
    return out


@dataclass(frozen=True)
class ApiAuth:
    token: str | None
    open_on_loopback: bool

    @classmethod
    def from_cfg(cls, cfg: Mapping[str, str]) -> ApiAuth:
        token = cfg.get("CUTMAN_API_TOKEN", "").strip() or None
        path = cfg.get("CUTMAN_API_TOKEN_FILE", "").strip()
        if token is None and path:
            try:
                lines = Path(path).read_text().splitlines()
            except OSError as exc:
                raise SecretRefused(f"CUTMAN_API_TOKEN_FILE {path}: {exc.strerror}") from None
            token = (lines[0].strip() if lines else "") or None
        problem = secret_problem(rule=API_TOKEN, value=token, required=False)
        if problem is not None:
            raise SecretRefused(problem)
        listen = [a.strip() for a in cfg.get("LISTEN_ADDRESS", DEFAULT_LISTEN).split(",") if a.strip()]
        return cls(token, bool(listen) and all(_host(a) in LOOPBACK for a in listen))

    @property
    def required(self) -> bool:
        return self.token is not None or not self.open_on_loopback

    def session(self) -> str:
        """The cookie value a login sets: derived from the token, never the token itself."""
        assert self.token is not None
        return hmac.new(self.token.encode(), b"cutman-ui", hashlib.sha256).hexdigest()

    def valid_token(self, token: str) -> bool:
        if self.token is None:
            return False
        return hmac.compare_digest(token.encode(), self.token.encode())

    def check(self, headers: Mapping[str, str], *, method: str) -> None:
        """Raise Unauthorized unless the request may read (and, for POST, act)."""
        if not self.required:
            return
        if self.token is None:
            raise Unauthorized("the API is disabled: ingest does not listen on loopback and "
                               "CUTMAN_API_TOKEN (or CUTMAN_API_TOKEN_FILE) is not set")
        bearer = bearer_of(headers.get("authorization", ""))
        if bearer is not None:
            if not self.valid_token(bearer):
                raise Unauthorized("wrong API token")
            return
        cookie = cookies_of(headers).get(COOKIE)
        if cookie is None:
            raise Unauthorized("missing Authorization: Bearer <CUTMAN_API_TOKEN>")
        if not hmac.compare_digest(cookie.encode(), self.session().encode()):
            raise Unauthorized("the session cookie is not valid (log in again at /ui/login)")
        if method not in ("GET", "HEAD") and headers.get(CSRF_HEADER) != "1":
            raise Unauthorized(f"a POST authenticated by cookie needs the {CSRF_HEADER}: 1 header")
