"""URLs as logs, run records and status may show them: no userinfo, query or fragment.

Tokens travel in URLs (`https://user:token@host`, `?token=…`, Slack's secret webhook
path), and a URL is often logged or recorded on a delivery. `redact_url` keeps what
identifies the endpoint (scheme, host, port, path) and drops the rest, or replaces it
with `mask` when the reader should see that something was there. `redact_urls_in` does
the same to every http(s) URL inside free text (a log message, an error from a library).
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit, urlunsplit

SECRET_PATH_HOSTS = frozenset({"hooks.slack.com"})
_URL = re.compile(r"\b(?:https?|redis|rediss)://[^\s\"'<>]+", re.IGNORECASE)


def redact_url(url: str, *, mask: str | None = None) -> str:
    """scheme://host[:port]/path; userinfo, query and fragment dropped (or shown as `mask`)."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        if ":" in host:
            host = f"[{host}]"
        if parts.port:
            host = f"{host}:{parts.port}"
    except ValueError:
        return "<unparseable url>"
    if mask and ("@" in parts.netloc):
        host = f"{mask}@{host}"
    path = parts.path
    if parts.hostname in SECRET_PATH_HOSTS and path not in ("", "/"):
        path = "/" + (mask or "")
    query = mask if (mask and parts.query) else ""
    fragment = mask if (mask and parts.fragment) else ""
    return urlunsplit((parts.scheme, host, path, query, fragment))


def redact_urls_in(text: str, *, mask: str = "***") -> str:
    """Every URL inside `text` redacted, with `mask` where something was removed."""
    if "://" not in text:
        return text
    return _URL.sub(lambda m: redact_url(m.group(), mask=mask), text)
