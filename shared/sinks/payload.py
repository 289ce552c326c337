"""What a sink sends when the user gave no template: the run summary, as JSON."""

from __future__ import annotations

import json
from typing import Any

from ..core.templating import check, render
from ..models.resources import SinkSpec
from ..models.run import Run


def check_template(spec: SinkSpec) -> None:
    if spec.config.template:
        check(spec.config.template)


def body(spec: SinkSpec, run: Run, context: dict[str, Any]) -> tuple[str, bool]:
    """The text to send and whether it is JSON."""
    if spec.config.template:
        text = render(spec.config.template, context)
        try:
            json.loads(text)
            return text, True
        except ValueError:
            return text, False
    indent = 2 if spec.config.pretty else None
    return json.dumps(run.summary(), indent=indent), True
