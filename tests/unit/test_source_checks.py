"""Apply-time checks of Sources (the reconciler's checks module): pure, no doubles."""

from __future__ import annotations

from typing import Any

import pytest
from cutman.errors import Invalid
from cutman.models.resources import Source
from cutman.runtime.loader import submodule

check_resource = submodule("reconciler", "checks").check_resource


def source(spec: dict[str, Any]) -> Source:
    return Source.model_validate({"apiVersion": "cutman.dev/v1alpha1", "kind": "Source",
                                  "metadata": {"name": "s"}, "spec": spec})


def test_kubernetes_source_is_accepted() -> None:
    check_resource(source({"type": "kubernetes", "triggerWorkflow": "w",
                           "config": {"resource": "v1/Pod", "labelSelector": "app=web,tier"}}))


@pytest.mark.parametrize(("config", "message"), [
    ({"resource": "v1/Pod", "labelSelector": "app!=web"}, r"spec.config.labelSelector: .*'app!=web'"),
    ({"resource": "v1/Pod", "authentication": {"type": "bearer", "secretRef": "x"}}, "cannot authenticate"),
])
def test_kubernetes_source_refusals_name_the_field(config: dict[str, Any], message: str) -> None:
    with pytest.raises(Invalid, match=message):
        check_resource(source({"type": "kubernetes", "config": config}))


def test_bad_matcher_is_quoted() -> None:
    with pytest.raises(Invalid, match=r"spec.config.matchers\[1\]"):
        check_resource(source({"type": "webhook", "config": {"path": "/x", "matchers": ['a="b"', "c=~("]}}))
