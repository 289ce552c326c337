"""Core v1 Secrets as `cutman apply` accepts them, and references to them.

A `secretRef` is `name` (key `token`) or `name/key`, in the referring resource's
namespace. Values are decoded here and never logged.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass
from typing import Any

from .manifests import ManifestError

DEFAULT_KEY = "token"


@dataclass(frozen=True)
class SecretRef:
    namespace: str
    name: str
    key: str

    @classmethod
    def parse(cls, ref: str, *, namespace: str, default_key: str = DEFAULT_KEY) -> SecretRef:
        name, _, key = ref.partition("/")
        return cls(namespace, name, key or default_key)

    @property
    def secret(self) -> str:
        return f"{self.namespace}/{self.name}"

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}/{self.key}"


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
