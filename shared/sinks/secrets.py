"""Credentials for sinks, read at delivery from Secrets in the Sink's namespace.

A reference is `name/key`, or a bare `name` (the earlier system's `botToken:
slack-bot-token-secret`): the Secret's only key, else the first of the type's
conventional keys it has (`token` for Slack, `routingKey` for PagerDuty, ...); the rules
are the shared resolver's (cutman.models.secret.resolve_secret). Values are handed to
the plugin and remembered here only so the delivery record can be masked.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..adapters.secret_store import SecretStore
from ..errors import PermanentError
from ..models.secret import SecretRef, resolve_secret


@dataclass
class StoreSecrets:
    store: SecretStore
    namespace: str
    seen: list[str] = field(default_factory=list)

    async def _lookup(self, key: str) -> Mapping[str, str] | None:
        return await self.store.get_secret(key)

    async def resolve(self, ref: str, *, field: str, keys: tuple[str, ...] = ("token",)) -> str:
        value = await resolve_secret(ref, namespace=self.namespace, lookup=self._lookup, keys=keys, where=field)
        self.seen.append(value)
        return value

    async def all_keys(self, ref: str, *, field: str) -> dict[str, str]:
        parsed = SecretRef.parse(ref, namespace=self.namespace)
        data = await self.store.get_secret(parsed.secret)
        if data is None:
            raise PermanentError(f"{field}: Secret {parsed.secret} does not exist; "
                                 f"apply it in namespace {self.namespace}")
        self.seen.extend(data.values())
        return dict(data)
