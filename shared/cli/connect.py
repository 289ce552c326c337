"""Which installation a command talks to: flags, environment, a context file, or `cutman dev`.

In order: `--server URL` (with `--token`), `$CUTMAN_SERVER` (with `$CUTMAN_TOKEN`), the
context named by `--context` or `current-context` in the config file
(`$CUTMAN_CONFIG`, default `~/.config/cutman/config`), and last the `cutman dev`
running from the state folder. The config file is kubeconfig-shaped YAML:

    current-context: prod
    contexts:
      - name: prod
        server: https://cutman.example.com
        token-file: /run/secrets/cutman-api-token   # or token: ..., token-env: NAME
        namespace: cutman

A context file holding a token must not be readable by others (it is refused otherwise,
as ssh refuses a private key).
"""

from __future__ import annotations

import argparse
import os
import stat
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from ..adapters.store import RedisStore
from ..errors import BadRequest
from ..runtime.stack import StackInfo, secret_key, state_dir
from .backend import Backend, LocalBackend

CONFIG_ENV = "CUTMAN_CONFIG"
DEFAULT_CONFIG = Path("~/.config/cutman/config")


@dataclass(frozen=True)
class Target:
    """An installation reached over HTTP, or (server None) the local stack."""

    server: str | None = None
    token: str | None = None
    namespace: str | None = None


def config_path() -> Path:
    return Path(os.environ.get(CONFIG_ENV) or DEFAULT_CONFIG).expanduser()


def _load_config(path: Path) -> dict[str, Any]:
    try:
        doc = yaml.safe_load(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, yaml.YAMLError) as exc:
        raise BadRequest(f"{path}: cannot read the cutman config: {exc}") from None
    if doc is None:
        return {}
    if not isinstance(doc, dict):
        raise BadRequest(f"{path}: the cutman config must be a mapping with `contexts`")
    return doc


def _context(path: Path, name: str | None) -> Target | None:
    doc = _load_config(path)
    wanted = name or doc.get("current-context")
    if not wanted:
        return None
    for ctx in doc.get("contexts") or []:
        if isinstance(ctx, dict) and ctx.get("name") == wanted:
            break
    else:
        raise BadRequest(f"{path}: no context named {wanted!r}", field="context")
    token = ctx.get("token")
    if token and path.stat().st_mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise BadRequest(f"{path} holds a token and is readable by others; chmod 600 {path}")
    if ctx.get("token-file"):
        token_file = Path(str(ctx["token-file"])).expanduser()
        try:
            token = token_file.read_text().strip()
        except OSError as exc:
            raise BadRequest(f"{path}: context {wanted!r}: token-file {token_file}: {exc.strerror}",
                             field="token-file") from None
    if ctx.get("token-env"):
        token = os.environ.get(str(ctx["token-env"]))
        if not token:
            raise BadRequest(f"{path}: context {wanted!r}: token-env {ctx['token-env']} is not set",
                             field="token-env")
    server = ctx.get("server")
    if not server:
        return Target(namespace=ctx.get("namespace"))
    return Target(str(server), token, ctx.get("namespace"))


def target(args: argparse.Namespace) -> Target:
    server = getattr(args, "server", None) or os.environ.get("CUTMAN_SERVER")
    if server:
        return Target(server, getattr(args, "token", None) or os.environ.get("CUTMAN_TOKEN"))
    ctx = _context(config_path(), getattr(args, "context", None))
    return ctx or Target()


def local_stack(args: argparse.Namespace) -> StackInfo:
    folder = state_dir(getattr(args, "state_dir", None))
    info = StackInfo.load(folder)
    if info is None:
        raise BadRequest(f"no cutman dev is running from {folder}; start one with `cutman dev` "
                         "(or give --server URL for an installation)")
    return info


def local_store(args: argparse.Namespace) -> RedisStore:
    """The local stack's Redis (or --redis-url / $REDIS_URL), able to open its sealed Secrets."""
    url = getattr(args, "redis_url", None) or os.environ.get("REDIS_URL") or local_stack(args).redis_url
    return RedisStore(url, secret_key=secret_key(state_dir(getattr(args, "state_dir", None))))


def backend(args: argparse.Namespace) -> Backend:
    where = target(args)
    if where.server:
        from .http_backend import HTTPBackend

        return HTTPBackend(where.server, token=where.token)
    return LocalBackend(local_store(args))


def default_namespace(args: argparse.Namespace) -> str | None:
    """`-A`: every namespace (None); else `-n`, the context's namespace, or `default`."""
    if getattr(args, "all_namespaces", False):
        return None
    return getattr(args, "namespace", None) or target(args).namespace or "default"
