"""Structured JSON logs with request-scoped ids (run, step, event) bound per request.

`bind(run=..., step=...)` sets ids in a context variable; every record logged in that
task carries them. Secrets never belong in a log call: log ids and names, not values.
As a safety net every URL in a record loses its userinfo, query and fragment
(core/urls.redact_urls_in), and httpx's per-request INFO lines, which carry full URLs,
are off.
"""

from __future__ import annotations

import contextvars
import json
import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .core.urls import redact_urls_in

_bound: contextvars.ContextVar[dict[str, Any] | None] = contextvars.ContextVar(
    "cutman_log_ids", default=None
)


class JSONFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "msg": record.getMessage(),
        }
        out.update(_bound.get() or {})
        extra = getattr(record, "fields", None)
        if isinstance(extra, dict):
            out.update(extra)
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return redact_urls_in(json.dumps(out, default=str))


# Servers that attach their own plain-text handlers (hypercorn's `errorlog="-"` default,
# uvicorn's dictConfig); `setup` takes their handlers away so they go through the root's.
SERVER_LOGGERS = ("hypercorn.error", "hypercorn.access", "uvicorn", "uvicorn.error", "uvicorn.access")


def setup(component: str, level: int = logging.INFO) -> None:
    """Every line this process writes to stderr as JSON; call at process start.

    The root logger gets the JSON handler (func-python's import-time `basicConfig` then
    adds nothing), the servers' own loggers lose their plain handlers and propagate,
    warnings are logged (`py.warnings`), and an uncaught exception is logged as JSON
    instead of a bare traceback.
    """
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in SERVER_LOGGERS:
        server = logging.getLogger(name)
        server.handlers[:] = []
        server.propagate = True
    logging.captureWarnings(True)
    sys.excepthook = _log_uncaught
    logging.getLogger("httpx").setLevel(max(level, logging.WARNING))
    _bound.set({"component": component})


def _log_uncaught(kind: type[BaseException], value: BaseException, tb: Any) -> None:
    if issubclass(kind, KeyboardInterrupt):
        sys.__excepthook__(kind, value, tb)
        return
    logging.getLogger("cutman").critical("uncaught exception", exc_info=(kind, value, tb))


def get(name: str) -> logging.Logger:
    return logging.getLogger(name)


def debug(logger: logging.Logger, msg: str, **fields: Any) -> None:
    logger.debug(msg, extra={"fields": fields})


def info(logger: logging.Logger, msg: str, **fields: Any) -> None:
    logger.info(msg, extra={"fields": fields})


def warning(logger: logging.Logger, msg: str, **fields: Any) -> None:
    logger.warning(msg, extra={"fields": fields})


def error(logger: logging.Logger, msg: str, **fields: Any) -> None:
    logger.error(msg, extra={"fields": fields})


@contextmanager
def bind(**ids: Any) -> Iterator[None]:
    """Attach ids to every log record emitted inside the block (per asyncio task)."""
    token = _bound.set({**(_bound.get() or {}), **{k: v for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _bound.reset(token)
