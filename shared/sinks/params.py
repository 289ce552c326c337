"""`spec.config` validated against its type's params model: a discriminated union on `type`.

`SinkSpec` calls this after the superset `SinkConfig` accepted the fields; here a field
that belongs to another type (or a typo the superset happens to know) is refused with its
name and the fields this type does take.
"""

from __future__ import annotations

import functools
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, create_model

from ..models.base import describe_errors
from ..models.resources import SinkType


@functools.cache
def _adapter() -> TypeAdapter[Any]:
    from .registry import plugins

    arms = []
    for sink_type, plugin in plugins().items():
        tag: Any = Literal[sink_type.value]
        arms.append(create_model(
            f"{plugin.params.__name__}Spec", __config__=ConfigDict(extra="forbid"),
            type=(tag, ...), config=(plugin.params, ...)))
    union: Any = Annotated[Union[tuple(arms)], Field(discriminator="type")]  # noqa: UP007
    return TypeAdapter(union)


def validate_params(sink_type: SinkType, config: dict[str, Any]) -> Any:
    """The typed params, or None for a type this version has no plugin for (refused by
    the apply-time check, which names the types available)."""
    from .registry import plugins

    if sink_type not in plugins():
        return None
    try:
        wrapped: BaseModel = _adapter().validate_python({"type": sink_type.value, "config": config})
    except ValidationError as exc:
        taken = sorted(f.alias or n for n, f in plugins()[sink_type].params.model_fields.items())
        lines = []
        for err, line in zip(exc.errors(), describe_errors(exc), strict=True):
            if err["type"] == "extra_forbidden":
                name = str(err["loc"][-1])
                line = (f"config.{name}: not a field of a {sink_type.value} sink "
                        f"(it takes: {', '.join(taken)})")
            elif err["type"] == "missing" and len(err["loc"]) == 3:
                line = f"config.{err['loc'][-1]} is required for a {sink_type.value} sink"
            lines.append(line.removeprefix(f"{sink_type.value}."))
        raise ValueError("; ".join(lines)) from None
    return wrapped.config  # type: ignore[attr-defined]
