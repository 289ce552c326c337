"""`cutman apply -f` and `cutman delete`: resources into (or out of) the running `cutman dev`.

Like kubectl: `-f -` reads stdin, each object prints `created`, `configured` or
`unchanged` (`workflow.cutman.dev/triage configured`), `--dry-run` validates and says
what would happen without changing anything, and deleting what does not exist is an
error (exit code 1). As the API server would, apply keeps `metadata.creationTimestamp`
and bumps `metadata.generation` when the spec changes.

In a cluster, `kubectl apply -f` is the way: the reconciler picks CRs up from the API.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib
import sys
from pathlib import Path
from typing import Any

from .. import clock
from ..adapters.store import RedisStore
from ..errors import BadRequest, CutmanError
from ..models.manifests import Document, ManifestError, iter_documents, parse_resource, read_paths
from ..models.resources import API_VERSION, GROUP, Kind, Resource
from ..models.secret import is_namespace, is_secret, secret_data
from ..runtime.loader import load
from ..runtime.stack import change, existing, secret_key, send_to_reconciler, state_dir
from .connect import local_stack, target
from .kinds import lookup
from .options import add_target_flags

KIND_ORDER = {"Namespace": -1, "Secret": 0, "Sink": 1, "Workflow": 2, "Source": 3}


def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    a = sub.add_parser("apply", help="create or update resources in the running cutman dev (kubectl apply)")
    a.add_argument("-f", "--filename", action="append", required=True,
                   help="file or folder of YAML manifests, or - for stdin (repeatable)")
    a.add_argument("--dry-run", action="store_true",
                   help="validate and print what would change, without changing anything")
    add_target_flags(a)
    a.set_defaults(func=lambda args: _run(args, delete=False))

    d = sub.add_parser("delete", help="delete resources from the running cutman dev (kubectl delete)")
    d.add_argument("-f", "--filename", action="append", default=[],
                   help="file or folder of YAML manifests, or - for stdin (repeatable)")
    d.add_argument("kind", metavar="KIND", nargs="?", help="instead of -f: sources, workflows or sinks")
    d.add_argument("names", metavar="NAME", nargs="*", help="names of the resources of KIND")
    d.add_argument("-n", "--namespace", default="default", help="namespace of KIND NAME (default: default)")
    d.add_argument("--dry-run", action="store_true", help="check the resources exist, without deleting them")
    add_target_flags(d)
    d.set_defaults(func=lambda args: _run(args, delete=True))


def read_inputs(filenames: list[str]) -> list[Document]:
    docs: list[Document] = []
    for name in filenames:
        if name == "-":
            docs += list(iter_documents(sys.stdin.read(), origin="stdin"))
        else:
            docs += read_paths([Path(name)])
    return docs


def _named(args: argparse.Namespace) -> list[Document]:
    info = lookup(args.kind)
    if info.crd is None:
        raise BadRequest(f"delete takes sources, workflows or sinks, not {args.kind} (runs: cutman runs delete)")
    if not args.names:
        raise BadRequest(f"delete {args.kind}: give the NAME(s) to delete")
    return [Document(f"{info.crd.value} {args.namespace}/{n}",
                     {"apiVersion": API_VERSION, "kind": info.crd.value,
                      "metadata": {"name": n, "namespace": args.namespace}}) for n in args.names]


def _resource(doc: Document) -> Resource:
    res = parse_resource(doc.body, where=doc.where)
    checks = importlib.import_module(load("reconciler").__name__ + ".checks")
    try:
        checks.check_resource(res)
    except CutmanError as exc:
        raise ManifestError(doc.where, [exc.message]) from None
    return res


def _ref(body: dict[str, Any]) -> str:
    meta = body.get("metadata") or {}
    return f"{meta.get('namespace', 'default')}/{meta.get('name')}"


def display_name(body: dict[str, Any]) -> str:
    """kubectl's `kind.group/name` (`secret/name` for core Secrets)."""
    name = (body.get("metadata") or {}).get("name")
    if is_secret(body) or is_namespace(body):
        return f"{str(body.get('kind')).lower()}/{name}"
    return f"{str(body.get('kind', '')).lower()}.{GROUP}/{name}"


async def _apply(args: argparse.Namespace, docs: list[Document], redis_url: str | None) -> int:
    store = _store(args, redis_url) if redis_url else None
    failed = 0
    suffix = " (dry run)" if args.dry_run else ""
    try:
        for doc in docs:
            if not (is_secret(doc.body) or is_namespace(doc.body)):
                _resource(doc)
            planned = change(doc, await existing(store, doc.body) if store else None, now=clock.now())
            what, body = ("valid" if store is None else planned.verb), planned.body
            if args.dry_run or what == "unchanged":
                print(f"{display_name(body)} {what}{suffix}")
                continue
            status, answer = send_to_reconciler(local_stack(args), Document(doc.where, body))
            if status != 200:
                failed += 1
                print(f"error: {doc.where}: {answer.get('message', answer)}", file=sys.stderr)
                continue
            print(f"{display_name(body)} {what}")
            why = (answer.get("notReady") or {}).get(f"{doc.kind} {_ref(body)}")
            if why:
                print(f"  not Ready: {why}")
    finally:
        if store:
            await store.close()
    return 1 if failed else 0


async def _delete(args: argparse.Namespace, docs: list[Document], redis_url: str) -> int:
    store = _store(args, redis_url)
    failed = 0
    try:
        for doc in docs:
            kind = str(doc.body.get("kind", ""))
            if not is_secret(doc.body) and kind not in {k.value for k in Kind}:
                raise ManifestError(doc.where, [f"kind: {kind!r} is not one of Secret, Source, Workflow, Sink"])
            name = (doc.body.get("metadata") or {}).get("name")
            plural = "secrets" if is_secret(doc.body) else f"{kind.lower()}s.{GROUP}"
            if await existing(store, doc.body) is None:
                failed += 1
                print(f'Error from server (NotFound): {plural} "{name}" not found', file=sys.stderr)
                continue
            label = "secret" if is_secret(doc.body) else f"{kind.lower()}.{GROUP}"
            if args.dry_run:
                print(f'{label} "{name}" deleted (dry run)')
                continue
            status, answer = send_to_reconciler(local_stack(args), doc, delete=True)
            if status != 200:
                failed += 1
                print(f"error: {doc.where}: {answer.get('message', answer)}", file=sys.stderr)
                continue
            print(f'{label} "{name}" deleted')
    finally:
        await store.close()
    return 1 if failed else 0


def _run(args: argparse.Namespace, *, delete: bool) -> int:
    if target(args).server:
        raise BadRequest("apply and delete change the local cutman dev; in a cluster use kubectl apply/delete -f "
                         "(the reconciler picks the CRs up)")
    docs = read_inputs(args.filename)
    if delete and args.kind:
        docs += _named(args)
    if not docs:
        raise BadRequest("nothing to do: give -f FILE (or - for stdin)" + (" or KIND NAME" if delete else ""))
    if delete:
        docs = [d for d in docs if not is_namespace(d.body)]
    else:
        for doc in docs:
            if is_secret(doc.body):
                secret_data(doc.body, where=doc.where)
            elif not is_namespace(doc.body):
                _resource(doc)
    docs.sort(key=lambda d: KIND_ORDER.get(d.kind, 9) * (-1 if delete else 1))
    if delete:
        return asyncio.run(_delete(args, docs, _redis_url(args, required=True) or ""))
    return asyncio.run(_apply(args, docs, _redis_url(args, required=not args.dry_run)))


def _store(args: argparse.Namespace, redis_url: str) -> RedisStore:
    return RedisStore(redis_url, secret_key=secret_key(state_dir(getattr(args, "state_dir", None))))


def _redis_url(args: argparse.Namespace, *, required: bool) -> str | None:
    """The local stack's Redis; a dry run without a stack only validates."""
    explicit = getattr(args, "redis_url", None)
    if explicit:
        return str(explicit)
    try:
        return local_stack(args).redis_url
    except BadRequest:
        if required:
            raise
        return None
