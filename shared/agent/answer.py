"""The final answer of an agent step: a JSON object with a known core and free fields.

Templates read it as `{{ .steps.<name>.result.summary }}`, sinks as outputs, so its core
fields are checked before the step succeeds: a model that answers prose is told what was
wrong and asked again while it has iterations left.
"""

from __future__ import annotations

import json
import re
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..core import jsonlimits
from ..errors import BadRequest
from ..models.base import describe_errors

_FENCE = re.compile(r"^```(?:json)?\s*(.*?)\s*```$", re.DOTALL)


class AnswerError(ValueError):
    pass


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")

    summary: str = Field(min_length=1)
    root_cause: str = ""
    can_auto_fix: bool = False
    recommendations: list[str] = Field(default_factory=list)
    confidence: float = Field(default=0.5, ge=0.0, le=1.0)


SCHEMA_HINT = (
    'Answer with only a JSON object: {"summary": str, "root_cause": str, "can_auto_fix": bool, '
    '"recommendations": [str], "confidence": number 0..1} plus any other fields the goal asks for.'
)


def parse_answer(text: str | None) -> dict[str, Any]:
    """The validated answer as a plain dict, or AnswerError saying what was wrong."""
    raw = (text or "").strip()
    fenced = _FENCE.match(raw)
    if fenced:
        raw = fenced.group(1)
    try:
        value = json.loads(raw)
    except (ValueError, RecursionError):
        raise AnswerError("the answer is not a JSON object") from None
    try:
        jsonlimits.check_depth(value, what="the answer")
    except BadRequest as exc:
        raise AnswerError(exc.message) from None
    if not isinstance(value, dict):
        raise AnswerError("the answer is JSON but not an object")
    try:
        return Answer.model_validate(value).model_dump(mode="json")
    except ValidationError as exc:
        raise AnswerError("; ".join(describe_errors(exc))) from None
