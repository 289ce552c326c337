"""Core v1 Secrets as `cutman apply` accepts them, and references to them.

A secret reference (`secretRef`, `apiKeySecret`, `secretEnv` values, a Sink's
`botToken`, ...) is `name/key`, or a bare `name` as the earlier system writes them
(`botToken: slack-bot-token-secret`): then the Secret's only key, else the first of the
conventional keys it has (`token`, `apiKey`, or the caller's own list). Secrets are
always read from the referring CR's own namespace. `resolve_secret` is the one resolver
every function uses. Values are decoded here and never logged.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import Invalid
from .manifests import ManifestError

DEFAULT_KEY = "token"
CONVENTIONAL_KEYS: tuple[str, ...] = ("token", "apiKey")

SecretLookup = Callable[[str], Awaitable[Mapping[str, str] | None]]
"""`<namespace>/<name>` -> the Secret's decoded data, or None when it does not exist."""


class SecretError(Invalid):
    """A reference that does not resolve: the Secret or the key is missing (the message
    names both and the keys there are, never a value)."""


@dataclass(frozen=True)
class SecretRef:
    namespace: str
    name: str
    key: str
    explicit: bool = True
    """False for a bare name: `key` is then only the first conventional key to try."""

    @classmethod
    def parse(cls, ref: str, *, namespace: str, default_key: str = DEFAULT_KEY) -> SecretRef:
        name, _, key = ref.strip().partition("/")
        return cls(namespace, name, key or default_key, explicit=bool(key))

    def value_in(self, data: Mapping[str, str], *, keys: Sequence[str] = CONVENTIONAL_KEYS,
                 where: str = "secret reference") -> str:
        """The referenced value in the Secret's `data`, by the rules above."""
        if self.explicit:
            if self.key not in data:
                raise SecretError(f"{where}: Secret {self.secret} has no key {self.key!r} "
                                  f"(keys: {', '.join(sorted(data)) or 'none'})")
            return data[self.key]
        if len(data) == 1:
            return next(iter(data.values()))
        tried = list(dict.fromkeys([self.key, *keys]))
        found = next((k for k in tried if k in data), None)
        if found is None:
            raise SecretError(f"{where}: Secret {self.secret} has keys {', '.join(sorted(data)) or 'none'}; "
                              f"write {self.name}/<key>, or name the key one of {', '.join(tried)}")
        return data[found]

    @property
    def secret(self) -> str:
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}/{self.key}"


async def resolve_secret(ref: str, *, namespace: str, lookup: SecretLookup,
                         keys: Sequence[str] = CONVENTIONAL_KEYS, where: str = "secret reference") -> str:
    """The value a reference names, read from `namespace` (the referring CR's) through
    `lookup` (the cluster's API, or the local secret store). SecretError when missing."""
    parsed = SecretRef.parse(ref, namespace=namespace, default_key=keys[0] if keys else DEFAULT_KEY)
    if not parsed.name:
        raise SecretError(f"{where}: empty secret reference")
    data = await lookup(parsed.secret)
    if data is None:
        raise SecretError(f"{where}: Secret {parsed.secret} does not exist (from {ref!r}); "
                          f"apply it in namespace {namespace}")
    return parsed.value_in(data, keys=keys, where=where)


def is_secret(body: dict[str, Any]) -> bool:
    return body.get("apiVersion") == "v1" and body.get("kind") == "Secret"


def secret_data(body: dict[str, Any], *, where: str = "Secret") -> dict[str, str]:
    """Decoded `data` (base64) merged with `stringData`, as the API server does."""
    out: dict[str, str] = {}
    data, string_data = body.get("data") or {}, body.get("stringData") or {}
    if not isinstance(data, dict) or not isinstance(string_data, dict):
        raise ManifestError(where, ["data and stringData must be maps of key to value"])
    for key, value in data.items():
        try:
            out[str(key)] = base64.b64decode(str(value), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            raise ManifestError(where, [f"data.{key}: not base64-encoded UTF-8"]) from None
    out.update({str(k): str(v) for k, v in string_data.items()})
    return out


def is_namespace(body: dict[str, Any]) -> bool:
    """A v1 Namespace document (the earlier system's files start with one)."""
    return body.get("apiVersion") == "v1" and body.get("kind") == "Namespace"
