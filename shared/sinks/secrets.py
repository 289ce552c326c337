"""Credentials for sinks, read at delivery from Secrets in the Sink's namespace.

A reference is `name/key`, or a bare `name` (the earlier system's `botToken:
slack-bot-token-secret`): the Secret's only key, else the first of the type's
conventional keys it has (`token` for Slack, `routingKey` for PagerDuty, ...). Values are
returned to the plugin and remembered here only so the delivery record can be masked.

Kept small and in one place: helper "ns" is writing a generic resolver in shared/, and
this becomes a thin call to it when it lands.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..adapters.secret_store import SecretStore
from ..errors import PermanentError


@dataclass
class StoreSecrets:
    store: SecretStore
    namespace: str
    seen: list[str] = field(default_factory=list)

    async def _data(self, name: str, where: str) -> dict[str, str]:
        data = await self.store.get_secret(f"{self.namespace}/{name}")
        if data is None:
            raise PermanentError(f"{where}: Secret {self.namespace}/{name} does not exist "
                                 f"(apply it in the Sink's namespace)")
        return data

    async def resolve(self, ref: str, *, field: str, keys: tuple[str, ...] = ("token",)) -> str:
        name, _, key = ref.partition("/")
        data = await self._data(name, field)
        if key:
            if key not in data:
                raise PermanentError(f"{field}: Secret {self.namespace}/{name} has no key {key!r} "
                                     f"(keys: {', '.join(sorted(data))})")
            value = data[key]
        elif len(data) == 1:
            value = next(iter(data.values()))
        else:
            found = next((k for k in keys if k in data), None)
            if found is None:
                raise PermanentError(
                    f"{field}: Secret {self.namespace}/{name} has keys {', '.join(sorted(data))}; "
                    f"write {name}/<key>, or name the key one of {', '.join(keys)}")
            value = data[found]
        self.seen.append(value)
        return value

    async def all_keys(self, ref: str, *, field: str) -> dict[str, str]:
        data = await self._data(ref.partition("/")[0], field)
        self.seen.extend(data.values())
        return dict(data)
