"""Events of non-webhook Sources, served at POST /sources/<namespace>/<name>.

`api` Sources take any JSON object (with the Source's authentication); `schedule` and
`kubernetes` Sources are fed by Knative sources (PingSource, ApiServerSource) whose sink
is this path, in CloudEvents binary or structured mode. Each becomes one
`dev.cutman.source.event` carrying the original event.

The id of the emitted event is derived from the original CloudEvent's source and id (or
an api caller's Idempotency-Key), so a redelivery by the Knative source maps to the same
event and finds the run it already started.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from cloudevents.core.v1.event import CloudEvent
from cutman.core import jsonlimits
from cutman.errors import BadRequest, NotFound, UnsupportedMedia
from cutman.models.cloudevent import from_http, make_event
from cutman.models.events import EventType, Ext
from cutman.models.kinds import SourceType

from .alertmanager import source_uri

PREFIX = "/sources/"
CE_TYPES = {SourceType.SCHEDULE, SourceType.KUBERNETES}


def source_key(path: str) -> str:
    """`<ns>/<name>` of a /sources/<ns>/<name> path; NotFound for anything else."""
    parts = path.removeprefix(PREFIX).strip("/").split("/")
    if len(parts) != 2 or not all(parts):
        raise NotFound(f"{path}: source events are posted to {PREFIX}<namespace>/<name>")
    return f"{parts[0]}/{parts[1]}"


@dataclass(frozen=True)
class Original:
    """What the Source received, and the id its cutman event will carry."""

    event_id: str
    data: dict[str, Any]


def _is_cloudevent(headers: Mapping[str, str], ctype: str) -> bool:
    return "ce-specversion" in headers or ctype == "application/cloudevents+json"


def decode(kind: SourceType, key: str, headers: Mapping[str, str], body: bytes) -> Original:
    ctype = headers.get("content-type", "").split(";")[0].strip().lower()
    if _is_cloudevent(headers, ctype):
        event = from_http(headers, body)
        attrs = {k: _attr(v) for k, v in event.get_attributes().items() if v is not None}
        return Original(str(uuid.uuid5(uuid.NAMESPACE_URL, f"{key}|{event.get_source()}|{event.get_id()}")),
                        {"cloudevent": attrs, "data": _data(event)})
    if kind in CE_TYPES:
        raise UnsupportedMedia(f"a {kind.value} Source takes CloudEvents (binary mode ce-* headers, "
                               "or application/cloudevents+json)")
    if ctype != "application/json" and not ctype.endswith("+json"):
        raise UnsupportedMedia(f"content-type must be application/json, got {ctype or 'none'}")
    doc = jsonlimits.loads(body)
    if not isinstance(doc, dict):
        raise BadRequest("body must be a JSON object")
    idem = headers.get("idempotency-key")
    event_id = str(uuid.uuid5(uuid.NAMESPACE_URL, f"{key}|{idem}")) if idem else str(uuid.uuid4())
    return Original(event_id, doc)


def _attr(value: Any) -> str:
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    return str(value)


def _data(event: CloudEvent) -> Any:
    data = event.get_data()
    if isinstance(data, bytes):
        try:
            return jsonlimits.loads(data, what="event data") if data else None
        except jsonlimits.TooDeep:
            raise
        except BadRequest:
            return data.decode("utf-8", "replace")
    jsonlimits.check_depth(data, what="event data")
    return data


def event_for(original: Original, key: str) -> CloudEvent:
    return make_event(id=original.event_id, type=EventType.SOURCE_EVENT, source=source_uri(key),
                      data=original.data, extensions={Ext.SOURCE: key})
