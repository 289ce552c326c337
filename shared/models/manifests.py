"""Reading user manifests: multi-document YAML in, validated resources out.

Every error names the document (file and position, kind and name when known) and the
field, so `cutman apply` tells the user exactly which line of which file to fix.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from ..errors import Invalid
from .base import describe_errors
from .resources import API_VERSION, MODELS, Kind, Resource


class ManifestError(Invalid):
    """A document that cannot be accepted; `lines` lists every problem found."""

    def __init__(self, where: str, lines: list[str]) -> None:
        super().__init__(f"{where}: " + "; ".join(lines))
        self.where = where
        self.lines = lines


@dataclass(frozen=True)
class Document:
    where: str
    body: dict[str, Any]

    @property
    def kind(self) -> str:
        return str(self.body.get("kind", ""))


def describe(where: str, body: dict[str, Any]) -> str:
    meta = body.get("metadata") if isinstance(body.get("metadata"), dict) else {}
    assert isinstance(meta, dict)
    name = meta.get("name")
    kind = body.get("kind")
    if kind and name:
        return f"{where} ({kind} {meta.get('namespace', 'default')}/{name})"
    return where


def parse_resource(body: dict[str, Any], *, where: str = "document") -> Resource:
    """Validate one custom resource; raise ManifestError naming the field and reason."""
    label = describe(where, body)
    if not isinstance(body, dict):
        raise ManifestError(where, ["not a mapping"])
    kind = body.get("kind")
    if kind not in {k.value for k in Kind}:
        why = f"kind: {kind!r} is not one of Source, Workflow, Sink (cutman.dev/v1alpha1), or a v1 Secret or Namespace"
        raise ManifestError(label, [why])
    if body.get("apiVersion") != API_VERSION:
        raise ManifestError(
            label, [f"apiVersion: must be {API_VERSION} (got {body.get('apiVersion')!r})"]
        )
    try:
        return MODELS[Kind(kind)].model_validate(body)
    except ValidationError as exc:
        raise ManifestError(label, describe_errors(exc)) from None


def iter_documents(text: str, *, origin: str) -> Iterator[Document]:
    import yaml  # imported here: the functions load this module, and only the CLI parses YAML

    try:
        docs = list(yaml.safe_load_all(text))
    except yaml.YAMLError as exc:
        raise ManifestError(origin, [f"not valid YAML: {exc}"]) from None
    for i, doc in enumerate(docs, start=1):
        if doc is None:
            continue
        where = f"{origin} document {i}"
        if not isinstance(doc, dict):
            raise ManifestError(where, ["not a mapping"])
        if doc.get("kind") == "List" and isinstance(doc.get("items"), list):
            for j, item in enumerate(doc["items"]):
                yield Document(f"{where} item {j}", item)
        else:
            yield Document(where, doc)


def read_paths(paths: list[Path]) -> list[Document]:
    """Documents of the files given; folders are walked in name order for .yaml and .yml files."""
    out: list[Document] = []
    for path in paths:
        if not path.exists():
            raise ManifestError(str(path), ["no such file or folder"])
        files = (
            sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"})
            if path.is_dir()
            else [path]
        )
        for f in files:
            out.extend(iter_documents(f.read_text(), origin=str(f)))
    return out
