"""The stdout sink: prints the rendered template (or the run summary) to the sink's stdout.

In a cluster that is the pod log; in `cutman dev` it is the terminal.
"""

from __future__ import annotations

import sys
from typing import Any

import httpx

from ..models.resources import SinkSpec, SinkType
from ..models.run import Run
from .payload import body, check_template


class StdoutSink:
    type = SinkType.STDOUT

    def check(self, spec: SinkSpec) -> None:
        check_template(spec)

    async def deliver(
        self, *, spec: SinkSpec, run: Run, context: dict[str, Any], http: httpx.AsyncClient
    ) -> str:
        text, _ = body(spec, run, context)
        sys.stdout.write(text.rstrip("\n") + "\n")
        sys.stdout.flush()
        return f"{len(text)} characters to stdout"
