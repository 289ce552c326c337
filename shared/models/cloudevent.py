"""Sans-I/O CloudEvent codec: cutman events to and from HTTP messages (cloudevents 2.x).

Pure functions, independent of any web server, so the functions, the dev broker and
the tests encode events identically.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from cloudevents.core.bindings.http import (
    HTTPMessage,
    from_http_event,
    to_binary_event,
    to_structured_event,
)
from cloudevents.core.exceptions import BaseCloudEventException
from cloudevents.core.v1.event import CloudEvent

from ..core import jsonlimits
from ..errors import BadRequest

JSON = "application/json"


def make_event(
    *,
    type: str,
    source: str,
    data: Any,
    extensions: Mapping[str, str] | None = None,
    id: str | None = None,
    subject: str | None = None,
) -> CloudEvent:
    attrs: dict[str, Any] = {
        "id": id or str(uuid.uuid4()),
        "type": type,
        "source": source,
        "specversion": "1.0",
        "time": datetime.now(UTC),
        "datacontenttype": JSON,
    }
    if subject:
        attrs["subject"] = subject
    for k, v in (extensions or {}).items():
        if v is not None and v != "":
            attrs[k] = str(v)
    return CloudEvent(attributes=attrs, data=data)


def to_binary(event: CloudEvent) -> HTTPMessage:
    return to_binary_event(event)


def to_structured(event: CloudEvent) -> HTTPMessage:
    return to_structured_event(event)


def from_http(headers: Mapping[str, str], body: bytes) -> CloudEvent:
    """Decode binary or structured mode; BadRequest says what was wrong."""
    lowered = {k.lower(): v for k, v in headers.items()}
    try:
        event = from_http_event(HTTPMessage(headers=lowered, body=body))
    except RecursionError:
        jsonlimits.loads(body, what="event")  # raises TooDeep with the path
        raise BadRequest("event: nested too deeply") from None
    except (BaseCloudEventException, ValueError, KeyError, TypeError) as exc:
        raise BadRequest(f"not a CloudEvent: {exc}") from None
    if not isinstance(event, CloudEvent):
        raise BadRequest("only CloudEvents 1.0 are accepted")
    return event


def ext(event: CloudEvent, name: str) -> str | None:
    value = event.get_attributes().get(name)
    return None if value is None else str(value)


def data_dict(event: CloudEvent) -> dict[str, Any]:
    data = event.get_data()
    if isinstance(data, (bytes, str)):
        data = jsonlimits.loads(data or b"{}", what="event data", max_depth=jsonlimits.MAX_INTERNAL_DEPTH)
    else:
        jsonlimits.check_depth(data, what="event data", max_depth=jsonlimits.MAX_INTERNAL_DEPTH)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise BadRequest("event data must be a JSON object")
    return data
